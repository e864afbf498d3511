"""The two tasks built from the parsed sources: lexname/domain classification and query/document retrieval.

Classification: a synset's gloss -> its lexicographer class (45) and domain (6).
Retrieval: an example sentence with the synset's lemmas masked -> the synset's gloss document ("wn:<id>"),
among distractors from all three sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from aiprime.data.domains import domains_of
from aiprime.data.foldoc import plain_text
from aiprime.data.masking import mask_lemmas
from aiprime.data.splits import split_of

CLASSIFICATION_SCHEMA = pa.schema(
    [
        ("synset_id", pa.string()),
        ("text", pa.string()),
        ("lexname", pa.string()),
        ("domain", pa.string()),
        ("split", pa.string()),
    ]
)
QUERIES_SCHEMA = pa.schema(
    [("query_id", pa.string()), ("synset_id", pa.string()), ("text", pa.string()), ("split", pa.string())]
)
DOCUMENTS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("synset_id", pa.string()),  # null except for WordNet documents
    ]
)
_ROLE = re.compile(r":[\w:+-]+:`")  # the `:mod:` of :mod:`json`


def classification_table(synsets: pd.DataFrame, domains: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per synset: its gloss as `text`, its lexname and domain, and the split of its synset_id.

    Raises:
        DataCorrupt: If a lexname has no domain in the table.
    """
    table = pd.DataFrame(
        {
            "synset_id": synsets.synset_id,
            "text": synsets.gloss,
            "lexname": synsets.lexname,
            "domain": domains_of(synsets.lexname, domains),
            "split": synsets.synset_id.map(split_of),
        }
    )
    return table.sort_values("synset_id", kind="stable", ignore_index=True)


def retrieval_queries(synsets: pd.DataFrame) -> pd.DataFrame:
    """One query per example sentence in which at least one lemma of its synset could be masked.

    Examples where no lemma occurs (an irregular form such as "ran", or a paraphrase) are left out: they
    would not test recall of the concept the same way. `query_id` is `q:<synset_id>:<example index>`.
    """
    rows = []
    for synset in synsets.itertuples(index=False):
        split = split_of(synset.synset_id)
        for number, example in enumerate(synset.examples):
            text, masked = mask_lemmas(example, synset.lemmas)
            if masked:
                rows.append((f"q:{synset.synset_id}:{number}", synset.synset_id, text, split))
    queries = pd.DataFrame(rows, columns=QUERIES_SCHEMA.names)
    return queries.sort_values("query_id", kind="stable", ignore_index=True)


def slugify(title: str) -> str:
    """A section title as an anchor, close to Sphinx's: roles and markup dropped, lowercase, dashes."""
    text = _ROLE.sub("", title).lower()
    return re.sub(r"[^0-9a-z]+", "-", text).strip("-") or "section"


def unique_ids(ids: Iterable[str]) -> list[str]:
    """`ids` with repeats made unique by `~2`, `~3`, ... in order of appearance (first one unchanged)."""
    ids = list(ids)
    taken, seen, unique = set(ids), set(), []
    for doc_id in ids:
        candidate, number = doc_id, 1
        while candidate in seen or (candidate != doc_id and candidate in taken):
            number += 1
            candidate = f"{doc_id}~{number}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def _wordnet_documents(synsets: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "doc_id": "wn:" + synsets.synset_id,
            "source": "wordnet",
            "title": synsets.lemmas.map(", ".join),
            "text": synsets.gloss,
            "synset_id": synsets.synset_id,
        }
    )


def _foldoc_documents(foldoc: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "doc_id": "foldoc:" + foldoc.term,
            "source": "foldoc",
            "title": foldoc.term,
            "text": foldoc.body.map(plain_text),
            "synset_id": None,
        }
    )


def _pydocs_documents(pydocs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "doc_id": "pydoc:" + pydocs.page + "#" + pydocs.title.map(slugify),
            "source": "pydocs",
            "title": pydocs.section_path,
            "text": pydocs.text,
            "synset_id": None,
        }
    )


def retrieval_documents(synsets: pd.DataFrame, foldoc: pd.DataFrame, pydocs: pd.DataFrame) -> pd.DataFrame:
    """The retrieval corpus: every WordNet gloss, FOLDOC entry and Python docs section, sorted by doc_id.

    Ids are `wn:<synset_id>`, `foldoc:<term>` and `pydoc:<page>#<section slug>`; repeats (two FOLDOC
    entries with one headword, two "Examples" sections on one page) get `~2`, `~3` in source order.
    """
    parts = [_wordnet_documents(synsets), _foldoc_documents(foldoc), _pydocs_documents(pydocs)]
    documents = pd.concat([part for part in parts if len(part)], ignore_index=True)
    documents = documents.reindex(columns=DOCUMENTS_SCHEMA.names)
    documents["doc_id"] = unique_ids(documents.doc_id)
    return documents.sort_values("doc_id", kind="stable", ignore_index=True)


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(key): int(count) for key, count in sorted(values.value_counts().items())}


def task_stats(classification: pd.DataFrame, queries: pd.DataFrame, documents: pd.DataFrame) -> dict:
    """Row counts of the task tables: in all, per split, per domain (queries via their synset), per source."""
    query_domains = queries.synset_id.map(
        dict(zip(classification.synset_id, classification.domain, strict=True))
    )
    return {
        "classification": {
            "rows": len(classification),
            "by_split": _counts(classification.split),
            "by_domain": _counts(classification.domain),
            "by_lexname": _counts(classification.lexname),
        },
        "queries": {
            "rows": len(queries),
            "by_split": _counts(queries.split),
            "by_domain": _counts(query_domains),
        },
        "documents": {"rows": len(documents), "by_source": _counts(documents.source)},
    }
