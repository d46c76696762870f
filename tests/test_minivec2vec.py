"""mini-vec2vec baseline: recovers a hidden map on clustered unpaired data, persists, is seeded, handles widths."""

import numpy as np
import pytest

from vec2vec.universal.aligner import load_aligner, unit
from vec2vec.universal.linear import random_orthogonal
from vec2vec.universal.methods import METHODS
from vec2vec.universal.metrics import retrieval_metrics
from vec2vec.universal.minivec2vec import MiniVec2Vec, MiniVec2VecConfig

# The published pipeline, shrunk: fewer and smaller stage-1 draws, shorter refinements. With only 3 draws one
# mismatched draw already spoils a third of the anchors, so each draw gets more 2-opt restarts than published (30
# restarts miss the best matching of these 8 near-equidistant clusters in about 1 draw in 5; 100 made it rare).
SMALL = MiniVec2VecConfig(
    stage1_draws=3,
    stage1_subsample=1500,
    stage1_clusters=8,
    qap_runs=100,
    refine_iterations=10,
    refine_batch=400,
    refine_clusters=20,
)


class World:
    """8 well-separated clusters of unequal sizes in 24-d, each with its own anisotropic shape (so the map is
    identifiable from the distribution), seen by encoder "a" directly and by wider "b" (32-d) and "c" (28-d)
    through hidden semi-orthogonal maps plus a little noise; rows L2-normalised like encoder output."""

    def __init__(self, seed: int = 0, d: int = 24) -> None:
        g = np.random.default_rng(seed)
        self.g, self.d = g, d
        self.centres = 10 * g.standard_normal((8, d))
        scales = np.linspace(1.5, 0.3, d)
        self.shapes = np.stack([random_orthogonal(d, d, g) * scales[:, None] for _ in range(8)])
        self.weights = np.arange(3, 11) / 52  # unequal sizes (3:10)
        self.q = {"a": np.eye(d), "b": random_orthogonal(d, 32, g), "c": random_orthogonal(d, 28, g)}

    def texts(self, n: int) -> np.ndarray:
        label = self.g.choice(8, n, p=self.weights)
        z = self.g.standard_normal((n, self.d))
        return unit(self.centres[label] + np.einsum("nd,nde->ne", z, self.shapes[label]))

    def embed(self, texts: np.ndarray, enc: str) -> np.ndarray:
        y = texts @ self.q[enc]
        return unit(y + 0.05 / np.sqrt(y.shape[1]) * self.g.standard_normal(y.shape)).astype(np.float32)

    def unpaired(self, encoders: tuple[str, ...], n: int = 2000) -> dict[str, np.ndarray]:
        """Training vectors: every encoder embeds its own, different texts."""
        return {enc: self.embed(self.texts(n), enc) for enc in encoders}

    def paired(self, encoders: tuple[str, ...], n: int = 500) -> dict[str, np.ndarray]:
        texts = self.texts(n)
        return {enc: self.embed(texts, enc) for enc in encoders}


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def fitted(world: World) -> tuple[MiniVec2Vec, dict[str, np.ndarray]]:
    train = world.unpaired(("a", "b"))
    return MiniVec2Vec(SMALL).fit(train, np.random.default_rng(1)), train


def top1(aligner: MiniVec2Vec, held_out: dict[str, np.ndarray], src: str, dst: str) -> float:
    m = retrieval_metrics(aligner.transform(held_out[src], src, dst), held_out[dst])
    assert m.candidates == 500
    return m.top1


def test_registered() -> None:
    assert METHODS["mini-vec2vec"] is MiniVec2Vec and not MiniVec2Vec.paired
    published = MiniVec2VecConfig()
    assert (published.stage1_draws, published.stage1_subsample, published.stage1_clusters) == (30, 10_000, 20)
    assert (published.qap_runs, published.stage2_neighbours, published.refine_iterations) == (30, 50, 100)
    assert (published.refine_batch, published.refine_neighbours, published.damping) == (1000, 50, 0.5)
    assert (published.cluster_rounds, published.refine_clusters, published.kmeans_n_init) == (1, 500, 1)
    with pytest.raises(ValueError, match="damping"):
        MiniVec2VecConfig(damping=0)


def test_recovers_hidden_map_from_unpaired_clusters(world: World, fitted) -> None:
    aligner, _ = fitted
    held_out = world.paired(("a", "b"))
    # 500 candidates: chance is 0.002. Width 24 -> 32 (the fitted map) and 32 -> 24 (the polar reverse).
    assert top1(aligner, held_out, "a", "b") > 0.5
    assert top1(aligner, held_out, "b", "a") > 0.5
    info = aligner.fit_info["a->b"]
    assert info["anchors"] == 3 * 8 and len(info["qap_objectives"]) == 3 and info["qap_objective"] > 0
    assert all(aligner.fit_info[k] > 0 for k in ("stage1_s", "stage2_s", "refine_s"))
    assert aligner.maps[("a", "b")].shape == (24, 32) and aligner.maps[("b", "a")].shape == (32, 24)


def test_save_load_round_trip(world: World, fitted, tmp_path) -> None:
    aligner, _ = fitted
    loaded = load_aligner(aligner.save(tmp_path / "mini"))
    assert isinstance(loaded, MiniVec2Vec) and loaded.config == SMALL and loaded.fit_info == aligner.fit_info
    held_out = world.paired(("a", "b"), 50)
    for src, dst in (("a", "b"), ("b", "a")):
        np.testing.assert_array_equal(
            loaded.transform(held_out[src], src, dst), aligner.transform(held_out[src], src, dst)
        )


def test_same_seed_same_maps(fitted) -> None:
    aligner, train = fitted
    again = MiniVec2Vec(SMALL).fit(train, np.random.default_rng(1))
    assert again.maps.keys() == aligner.maps.keys()
    for key, w in aligner.maps.items():
        np.testing.assert_array_equal(again.maps[key], w)


def test_width_change_both_ways_and_hub_composition(world: World) -> None:
    # The hub is the wider space, so the method's own fit is the 32 -> 24 projection; the third encoder is composed.
    aligner = MiniVec2Vec(SMALL).fit(world.unpaired(("b", "a", "c")), np.random.default_rng(2))
    assert set(aligner.maps) == {(s, d) for s in "abc" for d in "abc" if s != d}
    assert aligner.maps[("b", "a")].shape == (32, 24) and aligner.maps[("a", "c")].shape == (24, 28)
    held_out = world.paired(("a", "b", "c"))
    for src, dst in (("b", "a"), ("a", "b")):
        assert top1(aligner, held_out, src, dst) > 0.5, (src, dst)
    for src, dst in (("a", "c"), ("c", "a")):  # through the hub: two fits' errors add up (chance is 0.002)
        assert top1(aligner, held_out, src, dst) > 0.3, (src, dst)
