"""The universal latent (adapters + shared backbone): shapes, persistence, exact resume, losses, linear start.

Sizes are tiny and torch runs on one thread here: these tests share two cores with heavy jobs, and tiny
matmuls on two contended OpenMP threads are far slower than on one.
"""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from vec2vec.config import from_dict
from vec2vec.universal import losses as L
from vec2vec.universal.aligner import AlignerError, load_aligner, unit
from vec2vec.universal.baselines import RandomOrthogonal
from vec2vec.universal.linear import random_orthogonal
from vec2vec.universal.methods import METHODS
from vec2vec.universal.metrics import retrieval_metrics
from vec2vec.universal.universal import ModelConfig, UniversalAligner, UniversalConfig, from_linear

TINY = ModelConfig(latent_dim=32, hidden_dim=32, adapter_depth=1, backbone_depth=1, disc_hidden=16, disc_depth=1)
DIMS = {"a": 16, "b": 24, "c": 32}


def _config(**kw) -> UniversalConfig:
    return UniversalConfig(**({"model": TINY, "batch_size": 32, "progress": False, "log_every": 4} | kw))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _clustered(n: int, rng: np.random.Generator, dim: int = 16, k: int = 8) -> np.ndarray:
    centres = 3 * rng.standard_normal((k, dim))
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, dim))


@pytest.fixture(scope="module")
def three():
    """N=3 encoders of widths 16, 24, 32 (unpaired: each sees different points), briefly trained."""
    rng = np.random.default_rng(0)
    spaces = {e: rng.standard_normal((150, d)).astype(np.float32) + 0.5 for e, d in DIMS.items()}
    aligner = UniversalAligner(_config(steps=5)).fit(spaces, np.random.default_rng(1))
    return aligner, spaces


def test_any_to_any_shapes(three):
    aligner, spaces = three
    assert METHODS["universal"] is UniversalAligner
    for src, dst in itertools.product(DIMS, DIMS):
        out = aligner.transform(spaces[src][:7], src, dst)
        assert out.shape == (7, DIMS[dst]) and out.dtype == np.float32 and np.isfinite(out).all()
        assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    info = aligner.fit_info
    assert info["steps"] == 5 and info["train_s"] > 0 and info["history"][-1]["step"] == 5
    assert {"reconstruction", "vsp", "cycle", "cycle_vsp", "gan", "latent_gan", "d_gan", "d_latent"} <= set(
        info["history"][-1]
    )


def test_save_load_round_trip(three, tmp_path):
    aligner, spaces = three
    loaded = load_aligner(aligner.save(tmp_path / "u"))
    assert isinstance(loaded, UniversalAligner) and loaded.config == aligner.config
    for src, dst in itertools.permutations(DIMS, 2):
        assert np.array_equal(loaded.transform(spaces[src], src, dst), aligner.transform(spaces[src], src, dst))


def test_resume_equals_uninterrupted(tmp_path):
    """Stop after k steps, resume to n: bit-identical weights to one n-step run (same seed).

    Exact, not approximate: the checkpoint holds every weight, Adam moment and step count, and the sampler's
    torch.Generator state; the anchor decays on absolute steps, and single-threaded CPU kernels are deterministic.
    """
    rng = np.random.default_rng(3)
    spaces = {"a": rng.standard_normal((120, 16)).astype(np.float32), "b": rng.standard_normal((90, 24)) + 1.0}
    n, k = 14, 6
    full = UniversalAligner(_config(steps=n)).fit(spaces, np.random.default_rng(7))
    ckpt = str(tmp_path / "ckpt")
    first = UniversalAligner(_config(steps=k, checkpoint_dir=ckpt, checkpoint_every=4)).fit(
        spaces, np.random.default_rng(7)
    )
    assert first.fit_info["resumed_from"] is None and first.fit_info["steps"] == k
    assert sorted(p.name for p in (tmp_path / "ckpt" / "last").iterdir()) == ["meta.json", "tensors.safetensors"]
    resumed = UniversalAligner(_config(steps=n, checkpoint_dir=ckpt, checkpoint_every=4)).fit(
        spaces, np.random.default_rng(7)
    )
    assert resumed.fit_info["resumed_from"] == k and resumed.fit_info["steps"] == n
    a, b = full.state(), resumed.state()
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[key], b[key]) for key in a)
    # the same losses too; the stopped run also logged its own last step
    assert [h for h in resumed.fit_info["history"] if h["step"] != k] == full.fit_info["history"]
    with pytest.warns(UserWarning, match="different config"):  # another seed must not resume this run
        other = UniversalAligner(_config(steps=2, checkpoint_dir=ckpt)).fit(spaces, np.random.default_rng(8))
    assert other.fit_info["resumed_from"] is None


def test_losses_zero_in_their_ideal_case():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 16, generator=g)
    noisy = x + 0.5 * torch.randn(20, 16, generator=g)
    q = torch.from_numpy(random_orthogonal(16, 24, np.random.default_rng(0)))  # an isometry into 24-d
    m = torch.randn(16, 24, generator=g)  # a generic (non-orthogonal) map
    tiny = 1e-6
    for loss in (L.reconstruction_loss, L.cycle_loss):
        assert loss(x, x) < tiny and loss(x, 3 * x) < tiny and loss(x, noisy) > 0.01
    assert L.vsp_loss(x, x @ q) < tiny and L.vsp_loss(x, x @ m) > 0.01
    assert L.cycle_vsp_loss(x, x) < tiny and L.cycle_vsp_loss(x, noisy) > 0.001
    assert L.anchor_loss(x @ q, x, q) < tiny and L.anchor_loss(x @ m, x, q) > 0.01
    ones, zeros = torch.ones(8), torch.zeros(8)
    assert L.lsgan_discriminator_loss(ones, zeros) == 0 and L.lsgan_discriminator_loss(zeros, ones) == 1
    assert L.lsgan_generator_loss(ones) == 0 and L.lsgan_generator_loss(zeros) > 0
    assert L.anchor_weight(0, 1.0, 0.1, 100) == 1.0 and L.anchor_weight(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert L.anchor_weight(100, 1.0, 0.1, 100) == L.anchor_weight(10**6, 1.0, 0.1, 100) == 0.1


@pytest.fixture(scope="module")
def linear_world():
    """Clustered a (16-d); b = a @ Q (16 -> 24 isometry) + noise; both offset and L2-normalised; unpaired halves."""
    rng = np.random.default_rng(5)
    z = _clustered(1000, rng)
    q = random_orthogonal(16, 24, rng)
    a = unit(z + rng.standard_normal(16)).astype(np.float32)  # unit rows, like encoder output
    b = unit(z @ q + 0.05 * rng.standard_normal((1000, 24)) + rng.standard_normal(24)).astype(np.float32)
    spaces = {"a": a[:400], "b": b[400:800]}  # different points per encoder
    held = {"a": a[800:], "b": b[800:]}  # true pairs, for scoring only
    linear = RandomOrthogonal().fit(spaces, rng)
    linear.set_orthogonal("a", "b", q)  # the known solution in the centred frames
    return spaces, held, linear


def _top1(aligner, held) -> dict[str, float]:
    return {
        f"{s}->{d}": retrieval_metrics(aligner.transform(held[s], s, d), held[d]).top1
        for s, d in itertools.permutations(held, 2)
    }


def test_from_linear_starts_at_the_linear_map_and_survives_training(linear_world):
    spaces, held, linear = linear_world
    chance = 1 / len(held["a"])
    start = from_linear(linear, _config(steps=0, model=ModelConfig(latent_dim=16, hidden_dim=32, disc_hidden=16)))
    assert start.config.model.latent_dim == 24  # raised to the hub (widest encoder) width
    start.fit(spaces, np.random.default_rng(0))
    for s, d in itertools.permutations(held, 2):  # step 0 *is* the linear map
        assert np.allclose(start.transform(held[s], s, d), linear.transform(held[s], s, d), atol=1e-4)
    before = _top1(start, held)
    assert min(before.values()) > 0.8 > 100 * chance, before

    trained = from_linear(linear, _config(steps=80, lr=3e-4, disc_lr=3e-4, model=TINY)).fit(
        spaces, np.random.default_rng(0)
    )
    after = _top1(trained, held)
    assert trained.fit_info["linear_init"] and trained.fit_info["hub"] == "b"
    assert all(after[p] > 0.8 * before[p] for p in after), (before, after)
    assert trained.fit_info["history"][-1]["anchor"] < 0.05  # stayed near the linear solution


def test_bad_init_maps_are_clear_errors(linear_world):
    spaces, _, linear = linear_world
    aligner = UniversalAligner(_config(steps=0))
    aligner.init_maps = {("a", "b"): linear.maps[("a", "b")]}
    with pytest.raises(AlignerError, match="no b->a map"):
        aligner.fit(spaces, np.random.default_rng(0))
    narrow = UniversalAligner(_config(steps=0, model=ModelConfig(latent_dim=8)))
    narrow.init_maps = dict(linear.maps)
    with pytest.raises(AlignerError, match="latent_dim"):
        narrow.fit(spaces, np.random.default_rng(0))


def test_config_from_toml_dict_epochs_and_no_global_rng():
    cfg = from_dict(UniversalConfig, {"model": {"latent_dim": 16, "hidden_dim": 16}, "betas": [0.5, 0.9], "epochs": 1})
    assert cfg.model.latent_dim == 16 and cfg.betas == (0.5, 0.9)
    assert from_dict(UniversalConfig, dataclasses.asdict(cfg)) == cfg
    rng = np.random.default_rng(0)
    spaces = {"a": rng.standard_normal((40, 8)), "b": rng.standard_normal((30, 12))}
    global_state = torch.get_rng_state()
    aligner = UniversalAligner(dataclasses.replace(cfg, batch_size=16, progress=False)).fit(spaces, rng)
    assert aligner.fit_info["steps"] == 3  # one epoch of the larger side: ceil(40 / 16)
    assert torch.equal(torch.get_rng_state(), global_state)  # seeded from `rng` alone
