"""Query kinds beyond the sense question, built from our own data, each with a validation and a test split.

- `sense`: `What does "X" mean in "<sentence>"?` (`aiprime.rag.questions`; the data's own val/test splits).
- `definition`: a paraphrase of a WordNet gloss or a FOLDOC article's first sentence, naming no term of its
  title (about half its content words replaced by a WordNet synonym), e.g. "a flat rock found on the coast"
  -> the synset or article it defines.
- `keyword`: 2-4 content words of a document's text, none from its title, in random order.
- `code`: a Python name as a programmer types it (`os.path.join`, `functools.lru_cache`,
  `PyObject_Call`) -> the docs section whose directive defines it.

The split of a built query is fixed by a hash of its target document, so the same document never serves
validation and test. `query_kind` tells the kinds apart by their form, so search can pick each kind's fusion.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from aiprime.errors import DataSourceMissing, InvalidInput
from aiprime.rag.lexical import STOPWORDS

KINDS = ("sense", "definition", "keyword", "code")
SPLITS = ("val", "test")
QUOTED = re.compile(r'["\u201c][^"\u201c\u201d]+["\u201d]')
IDENTIFIER = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?:\(\))?$")
CONTENT_WORD = re.compile(r"[A-Za-z][a-z]{2,}")
DIRECTIVE = re.compile(
    r"^\.\. (?:py:)?(function|method|class|attribute|data|exception|decorator|module|currentmodule|"
    r"c:function|c:macro)::\s+(.+)$",
    re.MULTILINE,
)
SWAP_SHARE = 0.5  # a definition query replaces about this share of its content words with a synonym


def query_kind(text: str) -> str:
    """The kind of a query by its form: quoted term, one identifier, a few content words, or a description."""
    stripped = text.strip()
    if QUOTED.search(stripped):
        return "sense"
    if IDENTIFIER.match(stripped) and re.search(r"[._]|[a-z][A-Z]", stripped):
        return "code"
    words = stripped.split()
    if len(words) <= 4 and not any(w.lower() in STOPWORDS for w in words):
        return "keyword"
    return "definition"


def split_of(doc_id: str) -> str:
    """`val` or `test` by a stable hash of the target document (about half each)."""
    return SPLITS[hashlib.blake2b(doc_id.encode(), digest_size=4).digest()[0] % 2]


def title_words(title: str) -> set[str]:
    """The lowercased words of a document's title: a definition or keyword query must not name them."""
    return {w.lower() for w in re.findall(r"[A-Za-z]+", title)}


def content_words(text: str, banned: set[str]) -> list[str]:
    """The content words of `text` in order: at least three letters, no stopword, none of `banned`."""
    return [w for w in CONTENT_WORD.findall(text) if w.lower() not in STOPWORDS and w.lower() not in banned]


def first_sentence(text: str) -> str:
    """A FOLDOC article's first sentence, without its `<domain>` tags and cross-reference braces."""
    text = re.sub(r"<[^>]*>", " ", text).replace("{", "").replace("}", "")
    return re.split(r"(?<=[.;])\s", " ".join(text.split()), maxsplit=1)[0]


def synonym_table(synsets: pd.DataFrame) -> dict[str, list[str]]:
    """word -> the other single-word lemmas of the first synset (by id) that has it and has some."""
    table: dict[str, list[str]] = {}
    for lemmas in synsets.sort_values("synset_id").lemmas:
        words = [lemma.lower() for lemma in lemmas if lemma.isalpha()]
        for word in words:
            others = [other for other in words if other != word]
            if others and word not in table:
                table[word] = others
    return table


def paraphrase(text: str, banned: set[str], synonyms: dict[str, list[str]], rng: random.Random) -> str:
    """`text` with about SWAP_SHARE of its content words replaced by a synonym and `banned` words dropped."""
    out = []
    for word in re.findall(r"[A-Za-z][\w'-]*", text):
        lower = word.lower()
        if lower in banned:
            continue
        swap = lower not in STOPWORDS and lower in synonyms and rng.random() < SWAP_SHARE
        out.append(rng.choice(synonyms[lower]) if swap else lower)
    return " ".join(out)


def definition_queries(documents: pd.DataFrame, synsets: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A definition-style query per WordNet and FOLDOC document with at least four content words left."""
    rng, synonyms, rows = random.Random(seed), synonym_table(synsets), []
    for doc in documents[documents.source.isin(["wordnet", "foldoc"])].itertuples(index=False):
        banned = title_words(doc.title)
        text = doc.text if doc.source == "wordnet" else first_sentence(doc.text)
        if len(content_words(text, banned)) >= 4:
            rows.append((doc.doc_id, paraphrase(text, banned, synonyms, rng)))
    return _frame("definition", rows)


def keyword_queries(documents: pd.DataFrame, seed: int) -> pd.DataFrame:
    """2-4 distinct content words of each document's text (not its title), in random order."""
    rng, rows = random.Random(seed), []
    for doc in documents.itertuples(index=False):
        text = doc.text if doc.source != "foldoc" else re.sub(r"<[^>]*>|\{|\}", " ", doc.text)
        words = list(dict.fromkeys(w.lower() for w in content_words(text[:1500], title_words(doc.title))))
        if len(words) >= 2:
            rows.append((doc.doc_id, " ".join(rng.sample(words, rng.randint(2, min(4, len(words)))))))
    return _frame("keyword", rows)


def defined_names(page: str, text: str, page_module: str | None) -> list[str]:
    """The qualified names a docs section's directives define (`os.path.join`, `PyObject_Call`)."""
    module, names = page_module, []
    for kind, rest in DIRECTIVE.findall(text):
        if kind in ("module", "currentmodule"):
            module = rest.strip()
        elif kind.startswith("c:"):
            found = re.search(r"(\w+)\s*\(", rest) or re.search(r"(\w+)\s*$", rest)
            names += [found.group(1)] if found else []
        else:
            name = re.match(r"[\w.]+", rest.strip()).group(0)
            names.append(name if "." in name or not module else f"{module}.{name}")
    return names


def code_queries(documents: pd.DataFrame) -> pd.DataFrame:
    """One query per Python name that exactly one docs section defines: the name -> that section."""
    docs = documents[documents.source == "pydocs"]
    pages = docs.doc_id.str.slice(len("pydoc:")).str.split("#").str[0]
    page_module = {}
    for page, text in zip(pages, docs.text, strict=True):
        found = re.search(r"^\.\. module::\s+(\S+)", text, re.MULTILINE)
        if found and page not in page_module:
            page_module[page] = found.group(1)
    definers: dict[str, set[str]] = {}
    for doc_id, page, text in zip(docs.doc_id, pages, docs.text, strict=True):
        for name in defined_names(page, text, page_module.get(page)):
            definers.setdefault(name, set()).add(doc_id)
    rows = [(next(iter(ids)), name) for name, ids in sorted(definers.items()) if len(ids) == 1]
    return _frame("code", rows)


def _frame(kind: str, rows: Iterable[tuple[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["relevant", "question"])
    return frame.assign(kind=kind, split=frame.relevant.map(split_of))


def load_sources(splits_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """documents.parquet of `splits_dir` and processed/synsets.parquet beside it."""
    paths = [splits_dir / "documents.parquet", splits_dir.parent / "processed" / "synsets.parquet"]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise DataSourceMissing(
            f"{', '.join(missing)} not found. Build the data first: `aiprime data ingest`."
        )
    return pd.read_parquet(paths[0]), pd.read_parquet(paths[1], columns=["synset_id", "lemmas"])


def built_queries(
    splits_dir: Path, kind: str, split: str, n: int, seed: int, stored: set[str]
) -> pd.DataFrame:
    """A seeded sample of `n` queries of `kind` (not sense) in `split` whose target is among `stored` doc ids."""
    if kind not in KINDS[1:] or split not in SPLITS:
        raise InvalidInput(f"kind={kind!r}, split={split!r}; use one of {KINDS[1:]} and one of {SPLITS}.")
    documents, synsets = load_sources(splits_dir)
    builders = {
        "definition": lambda: definition_queries(documents, synsets, seed),
        "keyword": lambda: keyword_queries(documents, seed),
        "code": lambda: code_queries(documents),
    }
    frame = builders[kind]()  # built over every document: a section's module may be stated in another
    frame = frame[(frame.split == split) & frame.relevant.isin(stored)]
    return frame.sample(min(n, len(frame)), random_state=seed).reset_index(drop=True)
