"""Training data, evaluation and the train / eval / translate commands, on a small synthetic embedding-job output.

The corpus is written with the job's own writer and layout (`write_embeddings`, `CorpusLayout`, the split
function), so the readers see exactly what `vec2vec embed` leaves. Vectors are clustered Gaussian latents pushed
through a different random (semi-)orthogonal map per encoder, offset and L2-normalised: a linear oracle must find
the true pair almost always and a random map must sit at chance.
"""

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from vec2vec.atomic import write_json
from vec2vec.cli import main
from vec2vec.pipelines.split import SPLITS, SplitConfig, assign_split
from vec2vec.pipelines.store import CorpusLayout, read_embeddings, write_embeddings
from vec2vec.universal.aligner import load_aligner
from vec2vec.universal.data import (
    DataError,
    eval_pairs,
    id_part,
    paired_training_spaces,
    training_sets,
    training_spaces,
)
from vec2vec.universal.evaluate import EvalRow, evaluate, rows_table
from vec2vec.universal.linear import random_orthogonal
from vec2vec.universal.train import TrainConfig, fit_translator

DIMS = {"a": 32, "b": 48, "c": 32}  # a and c share a width (identity is defined), b is wider
LATENT = 32
DROPPED_EVAL_B = 3  # eval rows encoder b "could not embed"


def _write_corpus(root: Path, n: int = 1500, role: str = "train", seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Write `<root>` like `vec2vec embed` would; return {encoder: {id: vector}} (the truth)."""
    rng = np.random.default_rng(seed)
    z = 3 * rng.standard_normal((12, LATENT))[rng.integers(0, 12, n)] + rng.standard_normal((n, LATENT))
    ids = [f"t{i:05d}" for i in range(n)]
    cfg = SplitConfig(seed=0, eval_fraction=0.2)
    split_of = np.asarray([assign_split(i, "train", cfg) if role == "train" else "eval" for i in ids])
    layout = CorpusLayout(root)
    truth: dict[str, dict[str, np.ndarray]] = {}
    manifest: dict = {"corpus": {"name": root.name, "role": role}, "splits": {}, "encoders": {}}
    for enc, dim in DIMS.items():
        x = z @ random_orthogonal(LATENT, dim, rng) + 0.05 * rng.standard_normal((n, dim)) + rng.standard_normal(dim)
        x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        truth[enc] = dict(zip(ids, x, strict=True))
        entry: dict = {"dim": dim, "dir": enc, "splits": {}}
        for split in SPLITS:
            rows = np.flatnonzero(split_of == split)
            if enc == "b" and split == "eval":
                rows = rows[DROPPED_EVAL_B:]
            for k, part in enumerate(np.array_split(rows, 2) if len(rows) else []):
                meta = {"encoder": enc, "corpus": root.name, "split": split, "shard": k, "dropped_ids": []}
                write_embeddings(layout.shard(enc, split, k), [ids[i] for i in part], x[part], meta)
            entry["splits"][split] = {"rows": len(rows)}
        manifest["encoders"][enc] = entry
    for split in SPLITS:
        manifest["splits"][split] = {"rows": int((split_of == split).sum())}
    write_json(layout.manifest, manifest)
    return truth


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("emb") / "synth"
    return root, _write_corpus(root)


@pytest.fixture(scope="module")
def translator(corpus, tmp_path_factory):
    """An oracle-procrustes a<->b translator saved by `vec2vec train`."""
    root, _ = corpus
    out = tmp_path_factory.mktemp("tr") / "procrustes-ab"
    assert main(["train", "--data", str(root), "--encoders", "a,b", "--method", "oracle-procrustes", "--out",
                 str(out)]) == 0  # fmt: skip
    return out


def _split_ids(root: Path, encoder: str, split: str) -> set[str]:
    return set(read_embeddings(CorpusLayout(root).split_dir(encoder, split)).ids.tolist())


# --- training and evaluation data ---------------------------------------------------------------------------
def test_two_encoders_train_on_disjoint_sides(corpus):
    root, truth = corpus
    sets = training_sets(root, ["a", "b"], None, np.random.default_rng(0))
    a, b = (set(sets[e].ids.tolist()) for e in "ab")
    assert a == _split_ids(root, "a", "train_a") and b == _split_ids(root, "b", "train_b")
    assert a and b and not a & b
    for enc in "ab":  # every vector is the one written for its id
        assert np.array_equal(sets[enc].vectors, np.stack([truth[enc][i] for i in sets[enc].ids]))
    limited = training_sets(root, ["a", "b"], 100, np.random.default_rng(1))
    la, lb = (set(limited[e].ids.tolist()) for e in "ab")
    assert len(la) == len(lb) == 100 and la <= a and lb <= b
    again = training_spaces(root, ["a", "b"], 100, np.random.default_rng(1))
    assert np.array_equal(again["a"], limited["a"].vectors)  # the seed fixes the subsample


def test_three_encoders_partition_the_training_texts(corpus):
    root, truth = corpus
    sets = training_sets(root, ["a", "b", "c"], None, np.random.default_rng(0))
    ids = {e: set(s.ids.tolist()) for e, s in sets.items()}
    assert not ids["a"] & ids["b"] and not ids["a"] & ids["c"] and not ids["b"] & ids["c"]
    pool = _split_ids(root, "a", "train_a") | _split_ids(root, "a", "train_b")
    assert ids["a"] | ids["b"] | ids["c"] == pool  # nothing lost
    assert all(len(v) > len(pool) / 4 for v in ids.values())  # roughly a third each
    assert all(id_part(i, 3) == k for k, e in enumerate("abc") for i in ids[e])
    assert np.array_equal(sets["c"].vectors, np.stack([truth["c"][i] for i in sets["c"].ids]))


def test_paired_spaces_are_row_aligned_train_a(corpus):
    root, truth = corpus
    spaces = paired_training_spaces(root, ["b", "a"], 200, np.random.default_rng(0))
    assert spaces["a"].shape == (200, 32) and spaces["b"].shape == (200, 48)
    by_vector = {v.tobytes(): i for i, v in truth["a"].items()}
    rows = [by_vector[v.tobytes()] for v in spaces["a"]]
    assert set(rows) <= _split_ids(root, "a", "train_a")
    assert np.array_equal(spaces["b"], np.stack([truth["b"][i] for i in rows]))


def test_eval_pairs_drop_rows_missing_for_any_encoder(corpus, caplog):
    root, truth = corpus
    n_eval = len(_split_ids(root, "a", "eval"))
    with caplog.at_level(logging.WARNING):
        ids, vectors = eval_pairs(root, ["a", "b"])
    assert len(ids) == n_eval - DROPPED_EVAL_B and f"a {DROPPED_EVAL_B}" in caplog.text
    for enc in "ab":
        assert np.array_equal(vectors[enc], np.stack([truth[enc][i] for i in ids]))


@pytest.mark.parametrize(
    ("encoders", "message"),
    [
        (["a"], "need at least 2 encoders"),
        (["a", "a"], "given twice"),
        (["a", "zz"], "encoder 'zz' is not embedded in"),
    ],
)
def test_bad_encoder_lists(corpus, encoders, message):
    root, _ = corpus
    with pytest.raises(DataError, match=message):
        training_spaces(root, encoders, None, np.random.default_rng(0))


# --- evaluation -----------------------------------------------------------------------------------------------
def test_oracle_finds_pairs_and_random_is_chance(corpus):
    root, _ = corpus
    _, vectors = eval_pairs(root, ["a", "b"])
    oracle = fit_translator(TrainConfig(data=str(root), encoders=("a", "b"), method="oracle-procrustes"))
    chance = fit_translator(TrainConfig(data=str(root), encoders=("a", "b"), method="random"))
    rows = evaluate(oracle, vectors) + evaluate(chance, vectors, pairs=[("b", "a")], block=100)
    assert [(r.method, r.src, r.dst) for r in rows] == [
        ("oracle-procrustes", "a", "b"), ("oracle-procrustes", "b", "a"), ("random", "b", "a")
    ]  # fmt: skip
    for r in rows[:2]:
        assert r.top1 > 0.9 and r.foscttm < 0.01 and r.candidates == len(vectors["a"]) and r.fit_s is not None
    assert rows[2].top1 < 0.1 and 0.35 < rows[2].foscttm < 0.65 and rows[2].candidates == 100
    assert rows[0].label_free is None
    table = rows_table(rows)
    assert table.splitlines()[0].startswith("| method | src→dst | candidates | top-1") and "| random | b→a |" in table


# --- the command line -----------------------------------------------------------------------------------------
def test_train_save_eval_round_trip(corpus, translator, tmp_path, capsys):
    root, _ = corpus
    meta = json.loads((translator / "aligner.json").read_text())
    assert meta["kind"] == "oracle-procrustes" and meta["fit_info"]["fit_s"] > 0
    assert meta["fit_info"]["train"]["paired"] and meta["dims"] == {"a": 32, "b": 48}
    report = tmp_path / "eval.json"
    assert main(["eval", "--data", str(root), "--translator", str(translator), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "a→b" in out and "b→a" in out and "FOSCTTM" in out
    rows = json.loads(report.read_text())["rows"]
    assert [(r["src"], r["dst"]) for r in rows] == [("a", "b"), ("b", "a")]
    _, vectors = eval_pairs(root, ["a", "b"])
    expected = evaluate(load_aligner(translator), vectors)  # the saved translator scores as the fitted one
    assert rows == [r.as_dict() for r in expected] and all(r["top1"] > 0.9 for r in rows)


def test_eval_with_baselines(corpus, tmp_path, capsys):
    root, _ = corpus
    out = tmp_path / "random-ac"
    assert main(["train", "--data", str(root), "--encoders", "a,c", "--method", "random", "--limit", "300",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "trained random on" in capsys.readouterr().out
    report = tmp_path / "eval.json"
    assert main(["eval", "--data", str(root), "--translator", str(out), "--baselines", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(report.read_text())
    kinds = [r["method"] for r in doc["rows"]]
    assert (
        kinds == ["random"] * 2 + ["identity"] * 2 + ["random"] * 2 + ["oracle-procrustes"] * 2 + ["oracle-ridge"] * 2
    )
    assert doc["baselines"]["true_pairs"] == 300 and "300 true pairs" in printed
    for r in doc["rows"]:
        assert set(r) == {f.name for f in dataclasses.fields(EvalRow)}
        if r["method"].startswith("oracle"):
            assert r["top1"] > 0.9 and r["fit_s"] is not None
        elif r["method"] == "random":  # chance
            assert r["top1"] < 0.05 and 0.35 < r["foscttm"] < 0.65
        else:  # identity between unrelated spaces of one width: no better than chance at finding the pair
            assert r["top1"] < 0.05
    for cell in ("oracle-ridge", "identity", "a→c", "c→a", "CSLS top-1", "label-free"):
        assert cell in printed


def test_eval_baselines_skip_identity_across_widths(corpus, translator, capsys):
    root, _ = corpus
    assert main(["eval", "--data", str(root), "--translator", str(translator), "--baselines"]) == 0
    printed = capsys.readouterr().out
    assert "oracle-ridge" in printed and "identity" not in printed


def test_train_from_toml_config(corpus, tmp_path, capsys):
    root, _ = corpus
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'[train]\ndata = "{root}"\nencoders = ["b", "c"]\nmethod = "oracle-ridge"\nlimit = 150\n'
                   "[method]\nalphas = [0.5, 5.0]\n")  # fmt: skip
    out = tmp_path / "ridge"
    assert main(["train", "--config", str(cfg), "--seed", "3", "--out", str(out)]) == 0
    meta = json.loads((out / "aligner.json").read_text())
    assert meta["config"] == {"alphas": [0.5, 5.0]} and meta["fit_info"]["train"]["rows"] == {"b": 150, "c": 150}
    assert meta["fit_info"]["train"]["seed"] == 3
    cfg.write_text(cfg.read_text().replace("alphas", "alfas"))
    assert main(["train", "--config", str(cfg), "--out", str(out)]) == 2
    assert "unknown key(s) ['alfas']" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["parquet", "npy"])
def test_translate_in_chunks_matches_in_memory(corpus, translator, tmp_path, kind, capsys):
    root, _ = corpus
    emb = read_embeddings(CorpusLayout(root).split_dir("a", "eval"))
    src = tmp_path / f"in.{kind}"
    dst = tmp_path / f"out.{kind}"
    if kind == "parquet":
        write_embeddings(src, emb.ids.tolist(), emb.vectors, {"encoder": "a"})
    else:
        np.save(src, emb.vectors)
    argv = ["translate", "--translator", str(translator), "--src", "a", "--dst", "b", "--input", str(src),
            "--output", str(dst), "--chunk", "64"]  # fmt: skip
    assert len(emb.ids) > 4 * 64
    assert main(argv) == 0
    assert f"translated {len(emb.ids)} a vectors" in capsys.readouterr().out
    expected = load_aligner(translator).transform(emb.vectors, "a", "b")
    if kind == "parquet":
        got = read_embeddings(dst)
        assert got.ids.tolist() == emb.ids.tolist() and got.meta["translated_from"] == "a"
        assert got.meta["encoder"] == "b" and got.meta["translator"] == str(translator.resolve())
        assert pq.ParquetFile(dst).metadata.num_row_groups > 1  # written chunk by chunk
        vectors = got.vectors
    else:
        vectors = np.load(dst)
    assert vectors.shape == (len(emb.ids), 48) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))


def test_translate_between_formats(corpus, translator, tmp_path):
    root, _ = corpus
    x = read_embeddings(CorpusLayout(root).split_dir("b", "eval")).vectors[:100]
    np.save(tmp_path / "in.npy", x)
    argv = ["translate", "--translator", str(translator), "--src", "b", "--dst", "a", "--input",
            str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.parquet"), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    got = read_embeddings(tmp_path / "out.parquet")
    assert got.ids.tolist() == [str(i) for i in range(100)]
    np.testing.assert_allclose(got.vectors, load_aligner(translator).transform(x, "b", "a"), atol=1e-5)


def _bad_inputs(root: Path, tmp: Path) -> dict[str, Path]:
    emb = read_embeddings(CorpusLayout(root).split_dir("a", "eval"))
    paths = {}
    paths["wide"] = tmp / "wide.npy"
    np.save(paths["wide"], read_embeddings(CorpusLayout(root).split_dir("b", "eval")).vectors)
    nan = emb.vectors.copy()
    nan[130] = np.nan
    paths["nan.parquet"] = tmp / "nan.parquet"
    write_embeddings(paths["nan.parquet"], emb.ids.tolist(), nan, {})
    paths["nan.npy"] = tmp / "nan.npy"
    np.save(paths["nan.npy"], nan)
    paths["corrupt.parquet"] = tmp / "corrupt.parquet"
    paths["corrupt.parquet"].write_bytes(b"PAR1 this is not parquet PAR1")
    paths["corrupt.npy"] = tmp / "corrupt.npy"
    paths["corrupt.npy"].write_bytes(b"\x93NUMPY garbage")
    paths["csv"] = tmp / "vectors.csv"
    paths["csv"].write_text("1,2,3\n")
    paths["empty"] = tmp / "empty.npy"
    np.save(paths["empty"], np.zeros((0, 32), np.float32))
    paths["good"] = tmp / "good.npy"
    np.save(paths["good"], emb.vectors)
    return paths


@pytest.mark.parametrize(
    ("input_key", "extra", "message"),
    [
        ("wide", [], "holds 48-d vectors but encoder 'a' is 32-d"),
        ("nan.parquet", [], "row 130 (id 't"),
        ("nan.npy", [], "row 130 (id '130') is NaN/inf or all zero"),
        ("corrupt.parquet", [], "is corrupt or not a .parquet file"),
        ("corrupt.npy", [], "is corrupt or not a .npy file"),
        ("csv", [], "unsupported extension '.csv'"),
        ("empty", [], "empty.npy holds no vectors"),
        ("good", ["--dst", "zz"], "does not know encoder 'zz'; it knows ['a', 'b']"),
        ("good", ["--output", "out.txt"], "output out.txt has unsupported extension '.txt'"),
    ],
)
def test_translate_bad_input_exits_2(corpus, translator, tmp_path, capsys, input_key, extra, message):
    root, _ = corpus
    inputs = _bad_inputs(root, tmp_path)
    argv = ["translate", "--translator", str(translator), "--src", "a", "--dst", "b", "--input",
            str(inputs[input_key]), "--output", str(tmp_path / "out.npy"), "--chunk", "64", *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after any progress bar
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "out.npy").exists() and not list(tmp_path.glob(".*.tmp"))  # nothing half-written


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "{missing}", "--encoders", "a,b", "--method", "random", "--out", "{tmp}/t"],
         "does not exist; fix: pass <out>/<corpus>"),
        (["train", "--data", "{parent}", "--encoders", "a,b", "--method", "random", "--out", "{tmp}/t"],
         "(no manifest.json); fix: pass one of its corpus directories: "),
        (["train", "--data", "{root}", "--encoders", "a,zz", "--method", "random", "--out", "{tmp}/t"],
         "encoder 'zz' is not embedded in"),
        (["train", "--data", "{root}", "--encoders", "a", "--method", "random", "--out", "{tmp}/t"],
         "need at least 2 encoders"),
        (["train", "--data", "{root}", "--encoders", "a,b,a", "--method", "random", "--out", "{tmp}/t"],
         "given twice"),
        (["train", "--data", "{root}", "--encoders", "a,b", "--method", "nope", "--out", "{tmp}/t"],
         "unknown method 'nope'; known: identity"),
        (["train", "--data", "{root}", "--encoders", "a,b", "--method", "identity", "--out", "{tmp}/t"],
         "identity needs one width"),
        (["train", "--data", "{root}", "--encoders", "a,b", "--method", "random"], "no output directory"),
        (["train", "--data", "{root}", "--encoders", "a,b", "--method", "random", "--limit", "1", "--out", "x"],
         "limit must be >= 2"),
        (["train", "--data", "{evalonly}", "--encoders", "a,b", "--method", "random", "--out", "{tmp}/t"],
         "no 'train_a' vectors for encoder 'a'"),
        (["eval", "--data", "{missing}", "--translator", "{translator}"], "does not exist"),
        (["eval", "--data", "{root}", "--translator", "{tmp}"], "is not a saved aligner"),
        (["translate", "--translator", "{translator}", "--src", "a", "--dst", "b", "--input", "{tmp}/none.npy",
          "--output", "{tmp}/o.npy"], "none.npy does not exist"),
    ],
)  # fmt: skip
def test_bad_train_and_eval_input_exits_2(corpus, translator, tmp_path, capsys, argv, message):
    root, _ = corpus
    evalonly = tmp_path / "emb" / "quorish"
    wants_evalonly = "{evalonly}" in argv
    if wants_evalonly:
        _write_corpus(evalonly, n=60, role="eval")
    fill = {"missing": tmp_path / "nope", "parent": root.parent, "root": root, "tmp": tmp_path,
            "translator": translator, "evalonly": evalonly}  # fmt: skip
    argv = [a.format(**fill) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    if wants_evalonly:
        assert "only training corpora have train_a" in err
