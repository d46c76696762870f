import numpy as np
import pytest

from vec2vec.universal.metrics import retrieval_metrics


def _clustered(rng, n, d):
    return rng.standard_normal((n, d)) + 3 * rng.standard_normal((8, d))[rng.integers(0, 8, n)]


def test_perfect_and_chance_translations():
    rng = np.random.default_rng(0)
    y = _clustered(rng, 600, 32)
    perfect = retrieval_metrics(y.copy(), y)
    assert (perfect.top1, perfect.top5, perfect.mean_rank, perfect.foscttm, perfect.csls_top1) == (1, 1, 1, 0, 1)
    assert perfect.centred_cos == pytest.approx(1.0, abs=1e-5) and perfect.candidates == 600
    chance = retrieval_metrics(rng.permutation(y), y)
    assert chance.top1 < 0.05 and 0.4 < chance.foscttm < 0.6 and chance.mean_rank > 200


def test_noise_degrades_monotonically_and_blocks_are_stated():
    rng = np.random.default_rng(1)
    y = _clustered(rng, 1000, 16)
    scores = [retrieval_metrics(y + s * rng.standard_normal(y.shape), y, block=300) for s in (0.2, 1.0, 3.0)]
    assert scores[0].top1 > scores[1].top1 > scores[2].top1
    assert scores[0].foscttm < scores[1].foscttm < scores[2].foscttm
    assert (scores[0].candidates, scores[0].min_candidates) == (300, 100)


def test_foscttm_counts_both_directions():
    y = np.eye(3, dtype=np.float32)
    pred = np.array([[1, 0, 0], [1, 0.1, 0], [0, 0, 1]], dtype=np.float32)  # row 1 sits nearer target 0
    m = retrieval_metrics(pred, y, centre=np.zeros(3))
    assert m.top1 == pytest.approx(2 / 3) and m.mean_rank == pytest.approx(4 / 3)
    # row-wise closer counts: 0, 1, 0; column-wise (targets): target 0 has row 1 closer? no (0.995 < 1).
    assert m.foscttm == pytest.approx((0 + 1 + 0 + 0 + 0 + 0) / (2 * 2) / 3)


def test_bad_input():
    with pytest.raises(ValueError, match="same"):
        retrieval_metrics(np.zeros((3, 4)), np.zeros((3, 5)))
    bad = np.ones((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(bad, np.ones((3, 4)))
