import subprocess
import sys

import pytest

from vec2vec.cli import main
from vec2vec.config import ConfigError, load_toml
from vec2vec.pipelines.embed import EmbedConfig


def test_encoders_list(capsys):
    assert main(["encoders", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("minilm", "e5-small", "use", "wordllama", "mpnet", "384", "512", "256"):
        assert name in out


def test_corpora_list_and_fetch_are_idempotent(capsys):
    assert main(["corpora", "list"]) == 0
    assert "spamassassin" in capsys.readouterr().out
    assert main(["corpora", "fetch", "quora", "wordnet"]) == 0
    assert capsys.readouterr().out.splitlines() == ["quora: already present", "wordnet: already present"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "--encoders", "nope"], "unknown encoder 'nope'; known: minilm"),
        (["embed", "--corpus", "nope", "--encoders", "use"], "unknown corpus 'nope'; known: wordnet"),
        (["corpora", "fetch", "nope"], "unknown corpus 'nope'"),
        (["embed", "--shard-size", "0"], "shard_size must be >= 1"),
        (["embed", "--eval-fraction", "1.5"], "eval_fraction must be in (0, 1)"),
    ],
)
def test_bad_input_exits_2_with_the_fix(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "vec2vec", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "embed" in proc.stdout


def test_toml_config(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text('[embed]\nencoders = ["use"]\nshard_size = 10\n[embed.split]\nseed = 5\nlimit = 20\n')
    cfg = load_toml(EmbedConfig, path, "embed")
    assert cfg.encoders == ("use",) and cfg.shard_size == 10 and cfg.split.seed == 5 and cfg.split.limit == 20
    assert cfg.split.eval_fraction == 0.1  # untouched defaults stay
    path.write_text("[embed]\nshard_sise = 10\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['shard_sise'\]"):
        load_toml(EmbedConfig, path, "embed")
    path.write_text("[embed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(EmbedConfig, path, "embed")


def test_demo_embeds_then_fits_and_scores_translators(tmp_path, capsys, ray_session):
    """The demo's whole path on a small real run: Ray embedding job, then fit, save and the evaluation table."""
    cfg = tmp_path / "demo.toml"
    cfg.write_text(
        f"""
[embed]
corpora = ["wordnet"]
encoders = ["use", "wordllama"]
out = "{tmp_path / "emb"}"
[embed.split]
limit = 400
[align]
corpus = "wordnet"
pairs = [["use", "wordllama"]]
method = "oracle-procrustes"
baselines = ["random"]
out = "{tmp_path / "tr"}"
"""
    )
    assert main(["demo", "--config", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "oracle-procrustes" in out and "random" in out and "use→wordllama" in out
    assert (tmp_path / "tr" / "use__wordllama" / "aligner.json").is_file()
