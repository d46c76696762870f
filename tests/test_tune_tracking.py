"""MLflow tracking without a server: the default embedded SQLite store in the working directory, a run's record,
and the translator loaded back as a pyfunc model (from code, nothing pickled) that translates like the original."""

import os

import numpy as np
import pandas as pd
import pytest

from vec2vec.tune import tracking
from vec2vec.tune.loop import METRIC, label_free_scores, pair_metric, score_samples
from vec2vec.universal.aligner import AlignerError, load_aligner
from vec2vec.universal.universal import ModelConfig, UniversalAligner, UniversalConfig

TINY = ModelConfig(latent_dim=16, hidden_dim=16, adapter_depth=1, backbone_depth=1, disc_hidden=8, disc_depth=1)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    rng = np.random.default_rng(0)
    spaces = {"a": rng.standard_normal((120, 8)), "st:x/y": rng.standard_normal((100, 12)) + 1}
    cfg = UniversalConfig(model=TINY, steps=6, batch_size=16, log_every=2, linear_start=None, progress=False)
    aligner = UniversalAligner(cfg).fit(spaces, rng)
    framed = {n: aligner.frames.to_frame(x.astype(np.float32), n) for n, x in spaces.items()}
    assert aligner.model is not None
    aligner.fit_info[METRIC] = label_free_scores(aligner.model, score_samples(framed, 50, 0), k=5)
    aligner.fit_info["train"] = {"data": str(tmp_path_factory.mktemp("no-corpus")), "rows": {"a": 120}}
    out = aligner.save(tmp_path_factory.mktemp("tr") / "u")
    return aligner, spaces, out


def test_default_store_is_sqlite_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"  # absolute: four slashes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert (
        tracking.tracking_uri() == "http://127.0.0.1:1" and tracking.tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
    )
    assert "mlflow ui --backend-store-uri sqlite:///" in tracking.ui_hint(f"sqlite:///{tmp_path}/mlflow.db")


def test_run_logged_to_local_store_and_pyfunc_translates(fitted, tmp_path, monkeypatch):
    import mlflow

    aligner, spaces, out = fitted
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_id, model_uri = tracking.log_fitted("unit", {"method": aligner.config}, aligner, out)
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlartifacts").is_dir()
    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.get_run(run_id)
    assert run.data.params["method.model.latent_dim"] == "16" and run.data.params["encoders"] == "a,st:x/y"
    assert [m.step for m in client.get_metric_history(run_id, "total")] == [2, 4, 6]
    assert run.data.metrics[f"final.{pair_metric('st:x/y', 'a')}"] == aligner.fit_info[METRIC]["st:x/y->a"]
    assert not any(k.startswith("eval.") for k in run.data.metrics)  # no eval split there: nothing made up

    assert run.info.status == "FINISHED" and model_uri == f"runs:/{run_id}/pyfunc-translator"
    assert not any(k.startswith("MLFLOW_TRACKING_URI") for k in os.environ)  # nothing process-wide was set
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri())
    model = mlflow.pyfunc.load_model(model_uri)
    x = spaces["st:x/y"][:7].astype(np.float32)
    frame = pd.DataFrame({"src": ["st:x/y"] * 7 + ["a"], "dst": ["a"] * 7 + ["st:x/y"],
                          "vector": [*x, spaces["a"][0].astype(np.float32)]})  # fmt: skip
    got = model.predict(frame)["vector"].map(np.asarray)
    np.testing.assert_allclose(np.stack(got[:7]), load_aligner(out).transform(x, "st:x/y", "a"), atol=1e-6)
    assert got[7].shape == (12,)  # each row in its own direction
    with pytest.raises(AlignerError, match="lacks column"):
        model.predict(pd.DataFrame({"vector": list(x)}))
