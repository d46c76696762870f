"""Small text utilities the corpus readers share: sentence splitting and wikitext stripping."""

from __future__ import annotations

import re

_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|Inc|Ltd|Co|Corp|Gen|Gov|Sen|Rep|No|U\.S|e\.g|i\.e)\.$")


def split_sentences(text: str) -> list[str]:
    """Rule-based English sentence split: enough for news prose, and deterministic."""
    out: list[str] = []
    buf = ""
    for piece in _SENT_END.split(text):
        buf = f"{buf} {piece}".strip() if buf else piece.strip()
        if not _ABBREV.search(buf):
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return [s for s in out if s]


_WIKI_PATTERNS = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"<ref[^>/]*/>", re.S), ""),
    (re.compile(r"<ref[^>]*>.*?</ref>", re.S), ""),
    (re.compile(r"<[^>]+>"), ""),
    (
        re.compile(r"\[\[(?:File|Image|Category|[a-z]{2,3}(?:-[a-z]+)?):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", re.I),
        "",
    ),
    (re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[https?://[^\s\]]+\s*([^\]]*)\]"), r"\1"),
    (re.compile(r"'{2,}"), ""),
    (re.compile(r"&nbsp;|&ndash;|&mdash;"), " "),
    (re.compile(r"&[a-z]+;"), ""),
]


def _drop_nested(text: str, open_: str, close: str) -> str:
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(open_, i):
            depth += 1
            i += len(open_)
        elif depth and text.startswith(close, i):
            depth -= 1
            i += len(close)
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def strip_wikitext(text: str) -> list[str]:
    """Plain paragraphs from MediaWiki markup (templates, tables, refs, links and headings removed)."""
    text = _drop_nested(_drop_nested(text, "{{", "}}"), "{|", "|}")
    for pattern, repl in _WIKI_PATTERNS:
        text = pattern.sub(repl, text)
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln for ln in para.splitlines() if not re.match(r"\s*(=|\*|#|:|;|\||!)", ln)]
        joined = " ".join(ln.strip() for ln in lines).strip()
        if joined:
            paragraphs.append(re.sub(r"\s+", " ", joined))
    return paragraphs
