import numpy as np

from vec2vec.universal.neighbours import mean_top_k, top_k


def test_top_k_finds_the_largest_entries_along_either_axis():
    sim = np.random.default_rng(0).standard_normal((40, 70)).astype(np.float32)
    values, indices = top_k(sim, 5)
    assert indices.shape == (40, 5)
    for row, idx, val in zip(sim, indices, values, strict=True):
        assert set(idx) == set(np.argsort(row)[-5:])
        np.testing.assert_array_equal(np.sort(val), np.sort(row)[-5:])
    _, columns = top_k(sim, 3, axis=0)
    assert columns.shape == (3, 70)
    assert all(set(columns[:, j]) == set(np.argsort(sim[:, j])[-3:]) for j in range(70))
    np.testing.assert_allclose(mean_top_k(sim, 3, axis=0), np.sort(sim, axis=0)[-3:].mean(axis=0), rtol=1e-6)


def test_top_k_takes_every_entry_when_fewer_than_k():
    sim = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(mean_top_k(sim, 10), [1.0, 4.0])
