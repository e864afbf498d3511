"""The agents' task suite: seeded requests with answers a program can check, built from our data.

Each task is a request in words with its subject in double quotes (what a tool takes as its argument), the
output field its answer is read from, and the answers that count as right. Kinds and the tools that can
answer them:

| kind | request | answer field | gold |
|---|---|---|---|
| lexname | a WordNet gloss | `lexname` | the synset's lexicographer class |
| word_class | a WordNet lemma | `lexname` | the class of any of its senses |
| foldoc | "what is X" for a FOLDOC term | `doc_id` | `foldoc:X` |
| pydoc | a Python name (`os.path.join`) | `page` | the docs page whose directive defines it |
| reverse | a gloss (reverse dictionary) | `word` | any lemma of the synset |
| arithmetic | an expression | `value` | its exact value |
| date | one date (weekday) or two (days between) | `value` | exact |
| senses | a gloss: how many senses its word has | `senses` | the sense count of any of its lemmas (two tools) |

Every kind has four phrasings (templates). The split is by template: the last one of each kind is `test`,
so the policy is scored on phrasings it never saw in training. Sampling is seeded, so a seed and the data
give the same suite on every machine.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aiprime.errors import DataSourceMissing, InvalidInput
from aiprime.rag.query_kinds import code_queries

TEST_TEMPLATES = 1  # per kind, the last templates are held out for test
MAX_GLOSS_CHARS = 160  # longer glosses make requests nobody types
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2099, 12, 31))

TEMPLATES: dict[str, tuple[str, ...]] = {
    "lexname": (
        'Which lexicographer class does this gloss belong to: "{gloss}"?',
        'Classify the definition "{gloss}" into its WordNet category.',
        'What kind of concept is described by "{gloss}"?',
        'Name the semantic category of: "{gloss}".',
    ),
    "word_class": (
        'What is the lexicographer class of the word "{word}"?',
        'Look up "{word}" in WordNet and give its category.',
        'In WordNet, which lexical file lists "{word}"?',
        'Which semantic group does the word "{word}" fall into?',
    ),
    "foldoc": (
        'What is "{term}" in computing?',
        'Define the computing term "{term}".',
        'What does the jargon "{term}" mean?',
        'Explain the computer science term "{term}".',
    ),
    "pydoc": (
        'Which page of the Python docs documents "{name}"?',
        'Where is "{name}" described in the Python documentation?',
        'Find the Python reference for "{name}".',
        'Show me the docs page for the Python function "{name}".',
    ),
    "reverse": (
        'Which word means "{gloss}"?',
        'What is the term for "{gloss}"?',
        'Give me a word that means "{gloss}".',
        'I forgot the word for "{gloss}". What is it?',
    ),
    "arithmetic": (
        'What is "{expr}"?',
        'Compute "{expr}".',
        'Calculate "{expr}" for me.',
        'How much is "{expr}"?',
    ),
    "date": (
        'Which day of the week was "{date}"?',
        'How many days are there from "{date}" to "{date2}"?',
        'What weekday did "{date}" fall on?',
        'Count the days between "{date}" and "{date2}".',
    ),
    "senses": (
        'How many senses does the word meaning "{gloss}" have in WordNet?',
        'Find the word for "{gloss}" and count its WordNet senses.',
        'How many meanings has the word defined as "{gloss}"?',
        'The word that means "{gloss}": how many senses does it have?',
    ),
}
FIELDS = {  # kind -> the output field its answer is read from
    "lexname": "lexname",
    "word_class": "lexname",
    "foldoc": "doc_id",
    "pydoc": "page",
    "reverse": "word",
    "arithmetic": "value",
    "date": "value",
    "senses": "senses",
}
KINDS = tuple(TEMPLATES)


@dataclass(frozen=True)
class Task:
    """One request with a checkable answer."""

    task_id: str  # `<kind>:<number>`, stable for a seed and data
    kind: str  # one of KINDS
    template: str  # `<kind>/<index>`: what the split is by
    text: str  # the request, its subject in double quotes
    field: str  # the tool output field holding the answer
    gold: tuple[str, ...]  # every answer that counts as right
    split: str  # `train` or `test` (held-out templates)

    def reward(self, output: Mapping[str, str]) -> float:
        """1.0 when the output's answer field is one of the gold answers, else 0.0."""
        return 1.0 if str(output.get(self.field, "")) in self.gold else 0.0


@dataclass(frozen=True)
class Sources:
    """What the tasks are built from: WordNet synsets and the retrieval documents."""

    synsets: pd.DataFrame  # synset_id, lexname, lemmas, gloss
    documents: pd.DataFrame  # doc_id, source, title, text

    @classmethod
    def load(cls, data_dir: Path) -> Sources:
        """`processed/synsets.parquet` and `splits/documents.parquet` under `data_dir` (the DVC `data/`)."""
        paths = [data_dir / "processed" / "synsets.parquet", data_dir / "splits" / "documents.parquet"]
        if missing := [str(p) for p in paths if not p.is_file()]:
            raise DataSourceMissing(f"{', '.join(missing)} not found. Run `aiprime data ingest` first.")
        synsets = pd.read_parquet(paths[0], columns=["synset_id", "lexname", "lemmas", "gloss"])
        return cls(synsets, pd.read_parquet(paths[1], columns=["doc_id", "source", "title", "text"]))


def template_split(index: int, count: int) -> str:
    """The split of a kind's template `index` of `count`: the last TEST_TEMPLATES are `test`."""
    return "test" if index >= count - TEST_TEMPLATES else "train"


def lemma_text(lemma: str) -> str:
    """A WordNet lemma as people write it: `ice_cream` -> `ice cream`."""
    return lemma.replace("_", " ")


def sense_counts(synsets: pd.DataFrame) -> Counter[str]:
    """Lemma (as written) -> how many synsets list it."""
    return Counter(lemma_text(lemma).lower() for lemmas in synsets.lemmas for lemma in lemmas)


def short_glosses(synsets: pd.DataFrame) -> pd.DataFrame:
    """Synsets whose gloss is short enough for a request and free of double quotes."""
    gloss = synsets.gloss.astype(str)
    return synsets[(gloss.str.len() <= MAX_GLOSS_CHARS) & ~gloss.str.contains('"')]


def gloss_subjects(sources: Sources, rng: random.Random, n: int) -> dict[str, list]:
    """Disjoint samples of synsets for the three gloss kinds (lexname, reverse, senses)."""
    rows = list(short_glosses(sources.synsets).itertuples(index=False))
    picked = rng.sample(rows, min(3 * n, len(rows)))
    third = len(picked) // 3
    return {"lexname": picked[:third], "reverse": picked[third : 2 * third], "senses": picked[2 * third :]}


def gloss_tasks(sources: Sources, rng: random.Random, n: int) -> Iterator[tuple[str, dict, tuple[str, ...]]]:
    """(kind, template fields, gold) for the lexname, reverse and senses kinds."""
    counts = sense_counts(sources.synsets)
    for kind, rows in gloss_subjects(sources, rng, n).items():
        for row in rows:
            lemmas = [lemma_text(lemma) for lemma in row.lemmas]
            gold = {
                "lexname": (row.lexname,),
                "reverse": tuple(lemmas),
                "senses": tuple(sorted({str(counts[lemma.lower()]) for lemma in lemmas})),
            }[kind]
            yield kind, {"gloss": row.gloss}, gold


def word_class_tasks(sources: Sources, rng: random.Random, n: int) -> Iterator[tuple[str, dict, tuple]]:
    """(kind, fields, gold) for single-word lemmas: gold is the class of any of their senses."""
    classes: dict[str, set[str]] = {}
    for lemmas, lexname in zip(sources.synsets.lemmas, sources.synsets.lexname, strict=True):
        for lemma in lemmas:
            if lemma.isalpha():
                classes.setdefault(lemma.lower(), set()).add(lexname)
    for word in rng.sample(sorted(classes), min(n, len(classes))):
        yield "word_class", {"word": word}, tuple(sorted(classes[word]))


def foldoc_tasks(sources: Sources, rng: random.Random, n: int) -> Iterator[tuple[str, dict, tuple]]:
    """(kind, fields, gold) for FOLDOC terms made of letters, digits, spaces and dashes."""
    docs = sources.documents
    terms = docs[(docs.source == "foldoc") & docs.title.str.fullmatch(r"[A-Za-z][\w \-+]{1,40}")]
    terms = terms[~terms.doc_id.str.contains("~")]  # a term with two entries has no single gold document
    for row in rng.sample(list(terms.itertuples(index=False)), min(n, len(terms))):
        yield "foldoc", {"term": row.title}, (row.doc_id,)


def pydoc_tasks(sources: Sources, rng: random.Random, n: int) -> Iterator[tuple[str, dict, tuple]]:
    """(kind, fields, gold) for Python names that one docs section defines; gold is its page."""
    queries = code_queries(sources.documents)
    rows = list(zip(queries.question, queries.relevant, strict=True))
    for name, doc_id in rng.sample(rows, min(n, len(rows))):
        yield "pydoc", {"name": name}, (page_of(doc_id),)


def page_of(doc_id: str) -> str:
    """The docs page of a `pydoc:<page>#<section>` id (`library/os.path`)."""
    return doc_id.removeprefix("pydoc:").split("#")[0]


ARITHMETIC_FORMS = (  # (expression pattern, its value): the gold is computed here, not by a tool
    ("{a} + {b} * {c}", lambda a, b, c: a + b * c),
    ("({a} - {b}) * {c}", lambda a, b, c: (a - b) * c),
    ("{a} * {b} - {c}", lambda a, b, c: a * b - c),
    ("{a} % {b} + {c}", lambda a, b, c: a % b + c),
    ("{a} // {b} + {c}", lambda a, b, c: a // b + c),
)


def arithmetic_tasks(rng: random.Random, n: int) -> Iterator[tuple[str, dict, tuple]]:
    """(kind, fields, gold) for integer expressions of three operands."""
    for _ in range(n):
        pattern, value = rng.choice(ARITHMETIC_FORMS)
        a, b, c = rng.randint(2, 999), rng.randint(2, 99), rng.randint(2, 99)
        yield "arithmetic", {"expr": pattern.format(a=a, b=b, c=c)}, (str(value(a, b, c)),)


def random_date(rng: random.Random) -> dt.date:
    """A uniform date in DATE_RANGE."""
    first, last = DATE_RANGE
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def date_tasks(rng: random.Random, n: int) -> Iterator[tuple[str, dict, dict]]:
    """(kind, fields, gold per question): `weekday` of the first date, `days` from it to the later second."""
    for _ in range(n):
        first = random_date(rng)
        second = first + dt.timedelta(days=rng.randint(1, 3000))
        fields = {"date": first.isoformat(), "date2": second.isoformat()}
        yield "date", fields, {"weekday": (first.strftime("%A"),), "days": (str((second - first).days),)}


def subjects(sources: Sources, rng: random.Random, per_kind: int) -> Iterator[tuple[str, dict, object]]:
    """Every kind's (kind, template fields, gold), `per_kind` of each where the data has that many."""
    yield from gloss_tasks(sources, rng, per_kind)
    yield from word_class_tasks(sources, rng, per_kind)
    yield from foldoc_tasks(sources, rng, per_kind)
    yield from pydoc_tasks(sources, rng, per_kind)
    yield from arithmetic_tasks(rng, per_kind)
    yield from date_tasks(rng, per_kind)


def build_suite(sources: Sources, per_kind: int = 300, seed: int = 0) -> list[Task]:
    """The seeded task suite: `per_kind` tasks of each kind, each phrased by a template drawn at random.

    Args:
        sources: the data the subjects come from.
        per_kind: tasks per kind (fewer where the data is smaller, as in the tests' subset).
        seed: the same seed and data give the same suite.
    """
    if per_kind < 1:
        raise InvalidInput(f"per_kind={per_kind}; ask for at least one task per kind.")
    rng, tasks, numbers = random.Random(seed), [], Counter()
    for kind, fields, gold in subjects(sources, rng, per_kind):
        index = rng.randrange(len(TEMPLATES[kind]))
        template = TEMPLATES[kind][index]
        if isinstance(gold, dict):  # a date: the question the template asks picks the answer
            gold = gold["days"] if "{date2}" in template else gold["weekday"]
        numbers[kind] += 1
        tasks.append(
            Task(
                task_id=f"{kind}:{numbers[kind]}",
                kind=kind,
                template=f"{kind}/{index}",
                text=template.format(**fields),
                field=FIELDS[kind],
                gold=tuple(gold),
                split=template_split(index, len(TEMPLATES[kind])),
            )
        )
    return tasks


def split_tasks(tasks: list[Task], split: str) -> list[Task]:
    """The tasks of one split (`train` or `test`)."""
    return [task for task in tasks if task.split == split]
