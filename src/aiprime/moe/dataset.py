"""The classification task as arrays: embedded glosses with their lexname and domain, one `TaskSplit` per split.

The table is `data/splits/classification.parquet`, the DVC-versioned output of the `splits` stage; its data
version is the md5 that `data/dvc.lock` records, checked against the file so that a model tagged with it was
really trained on it. Embeddings are cached by content in chunks (`embed_texts`), so a data version that
was embedded once is read back from disk, and an interrupted run keeps the chunks it finished.

The gate also serves questions (`What does "courting" mean in "..."?`), so it trains on them too:
`build_question_splits` turns the retrieval task's queries (`splits/queries.parquet`, split by synset like the
glosses) into sense questions labelled with their synset's lexname and domain (`aiprime.data.questions`).

A question also carries the embedding of its quoted word (`TaskSplit.word`, `aiprime.data.questions.word_of`),
which the gate reads beside the question's (`TaskSplit.gate_x`); a gloss is its own word, as it is served
(a request carries no lemma). The experts read the text's embedding alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aiprime import versioning
from aiprime.data.domains import load_domains
from aiprime.data.questions import questions_of, word_of
from aiprime.data.splits import SPLITS
from aiprime.errors import DataCorrupt, NotFound, StageFailed
from aiprime.moe import feedback_rows
from aiprime.moe.embeddings import EMBED_DIM, cache_key, embed_texts
from aiprime.observability import progress

TABLE = "splits/classification.parquet"  # under data/, as data/dvc.lock names it
QUERIES = "splits/queries.parquet"  # the retrieval task's queries, one per example sentence
SYNSETS = "processed/synsets.parquet"  # the unmasked example sentences the questions quote
CHUNK = 4096  # texts per cached embedding file
QUESTIONS = 16384  # train sense questions the gate trains on by default (8,192 routed 72.5%: README)
VAL_SHARE = 4  # val questions: a quarter as many as train's
QUESTION_COLUMNS = ["synset_id", "text", "word", "lexname", "domain", "split"]  # a labelled text table's


@dataclass(frozen=True)
class TaskSplit:
    """One split of the classification task, embedded."""

    x: np.ndarray  # (N, 384) float32 unit-norm gloss embeddings
    synset_id: np.ndarray  # (N,) str
    lexname: np.ndarray  # (N,) str: the fine class (45 in all)
    domain: np.ndarray  # (N,) str: the coarse class, the gate's target (6)
    word: np.ndarray | None = None  # (N, 384) embedding of each row's word; None: each row is its own word

    def __post_init__(self) -> None:
        n = len(self.x)
        assert self.x.shape == (n, EMBED_DIM), f"x is {self.x.shape}, expected ({n}, {EMBED_DIM})"
        assert self.word is None or self.word.shape == self.x.shape, (
            f"word {self.word.shape} vs x {self.x.shape}"
        )
        assert len(self.synset_id) == len(self.lexname) == len(self.domain) == n, (
            f"lengths differ: x {n}, ids {len(self.synset_id)}, lexname {len(self.lexname)}, "
            f"domain {len(self.domain)}"
        )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def words(self) -> np.ndarray:
        """(N, 384) each row's word embedding: `word`, or the row's own embedding where there is none."""
        return self.x if self.word is None else self.word

    @property
    def gate_x(self) -> np.ndarray:
        """(N, 768) the gate's input rows: the text's embedding, then its word's."""
        return np.concatenate([self.x, self.words], axis=1)

    def where(self, mask: np.ndarray) -> TaskSplit:
        """The rows where `mask` is true."""
        return TaskSplit(*(a[mask] for a in self.arrays()), None if self.word is None else self.word[mask])

    def join(self, other: TaskSplit) -> TaskSplit:
        """These rows, then `other`'s: e.g. glosses and questions, as the gate trains on them."""
        pairs = zip(self.arrays(), other.arrays(), strict=True)
        word = None if self.word is None and other.word is None else np.concatenate([self.words, other.words])
        return TaskSplit(*(np.concatenate(pair) for pair in pairs), word)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, synset_id, lexname, domain), in the constructor's order."""
        return self.x, self.synset_id, self.lexname, self.domain

    def of_domain(self, domain: str) -> TaskSplit:
        """The rows of one domain: what that domain's expert trains and is scored on."""
        return self.where(self.domain == domain)

    def save(self, path: Path) -> Path:
        """Write the split as one `.npz` file (no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:  # a file handle: np.savez would append `.npz` to a bare path
            np.savez(
                handle,
                x=self.x,
                synset_id=self.synset_id.astype(str),
                lexname=self.lexname.astype(str),
                domain=self.domain.astype(str),
                **({} if self.word is None else {"word": self.word}),
            )
        return path

    @classmethod
    def load(cls, path: Path) -> TaskSplit:
        """Read a split written by `save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                word = data["word"] if "word" in data.files else None
                return cls(data["x"], data["synset_id"], data["lexname"], data["domain"], word)
        except (OSError, KeyError, ValueError) as e:
            raise DataCorrupt(f"Cannot read the task split {path}: {e}. Rerun prepare_data.") from e


def data_version(root: Path, table: str = TABLE, stage: str = "splits") -> str:
    """The DVC md5 of `table` (the classification table by default) in `root`'s `data/dvc.lock`."""
    outs = versioning.stage_outs(root, stage)
    if table not in outs:
        raise NotFound(f"data/dvc.lock has no output {table}. Run `aiprime data ingest`.")
    return outs[table]


def file_md5(path: Path) -> str:
    """md5 of a file's bytes: what DVC records for a single-file output."""
    digest = hashlib.md5()  # DVC's content hash, not a security measure
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_file(
    root: Path, table: str = TABLE, stage: str = "splits", pull: bool = True
) -> tuple[Path, str]:
    """The path of a DVC output of the checkout `root` (`data/<table>`) and its md5, checked against dvc.lock.

    Args:
        root: an AI Prime checkout (holds `.dvc/` and `data/dvc.lock`).
        table: the output's path under `data/`, as dvc.lock names it.
        stage: the DVC stage that writes it.
        pull: when the file is absent (a fresh clone or a container), fetch it from the DVC remote first.

    Raises:
        NotFound: the file is neither here nor in the remote.
        DataCorrupt: the file's md5 differs from the one dvc.lock pins.
    """
    version = data_version(root, table, stage)
    path = root / "data" / table
    if not path.is_file() and pull:
        try:
            versioning.dvc(root, "pull", "--quiet", f"data/dvc.yaml:{stage}")
        except StageFailed as e:
            raise NotFound(
                f"{path} is missing and `dvc pull` failed ({e}). Run `aiprime data ingest`."
            ) from e
    if not path.is_file():
        raise NotFound(f"{path} is missing. Run `aiprime data ingest` (or `dvc pull`) first.")
    actual = file_md5(path)
    if actual != version:
        raise DataCorrupt(
            f"{path} has md5 {actual} but data/dvc.lock pins {version}. "
            f"Run `dvc checkout data/dvc.yaml:{stage}` or `aiprime data ingest`."
        )
    return path, version


def read_table(root: Path, pull: bool = True) -> tuple[pd.DataFrame, str]:
    """The classification table of the checkout `root` and its data version, checked against dvc.lock.

    Raises:
        NotFound, DataCorrupt: as `checked_file`.
    """
    path, version = checked_file(root, pull=pull)
    return pd.read_parquet(path, columns=["synset_id", "text", "lexname", "domain", "split"]), version


def read_questions(root: Path, pull: bool = True) -> tuple[pd.DataFrame, str]:
    """The sense questions of the checkout's queries, labelled like the classification table, and their version.

    Returns:
        Rows `synset_id`, `text` (the question), `word` (the word it asks about), `lexname`, `domain`, `split`
        (the synset's), in query order;
        and the data version: the DVC md5s of the queries and the classification table, joined by `+`.
    """
    labelled, version = read_labelled_queries(root, pull)
    return asked(root, labelled, pull), version


def read_labelled_queries(root: Path, pull: bool = True) -> tuple[pd.DataFrame, str]:
    """The checkout's queries (`query_id`, `synset_id`, `split`) with their synset's `lexname` and `domain`, and
    the questions' data version (`read_questions`)."""
    queries_path, queries_md5 = checked_file(root, QUERIES, pull=pull)
    labels, table_md5 = read_table(root, pull)
    queries = pd.read_parquet(queries_path, columns=["query_id", "synset_id", "split"])
    labelled = queries.merge(labels[["synset_id", "lexname", "domain"]], on="synset_id", how="inner")
    return labelled, f"{queries_md5}+{table_md5}"


def asked(root: Path, queries: pd.DataFrame, pull: bool = True) -> pd.DataFrame:
    """`queries` (from `read_labelled_queries`) as sense questions: `synset_id`, `text`, `word`, `lexname`,
    `domain`, `split`, in the same order."""
    synsets_path, _ = checked_file(root, SYNSETS, "processed", pull=pull)
    synsets = pd.read_parquet(synsets_path, columns=["synset_id", "lemmas", "examples"]).set_index(
        "synset_id"
    )
    text = questions_of(queries, synsets)
    return queries.assign(text=text, word=[word_of(t) for t in text])[QUESTION_COLUMNS]


def sample(table: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most `limit` rows per (split, lexname), the first by synset id; `limit` 0 keeps every row.

    Every class keeps some rows, so a quick run still trains every expert.
    """
    if limit <= 0:
        return table
    ordered = table.sort_values("synset_id", kind="stable")
    return ordered.groupby(["split", "lexname"], sort=False).head(limit)


def embed(texts: Sequence[str], cache_dir: Path, chunk: int = CHUNK) -> np.ndarray:
    """Embeddings (N, 384) of `texts`, cached in chunks of `chunk` texts under `cache_dir`; a progress stage
    counts the texts while any chunk is not cached yet."""
    texts = list(texts)
    if is_cached(texts, cache_dir, chunk):
        parts = [embed_texts(texts[i : i + chunk], cache_dir) for i in range(0, len(texts), chunk)]
    else:
        parts = embed_counted(texts, cache_dir, chunk)
    return np.concatenate(parts) if parts else np.zeros((0, EMBED_DIM), dtype=np.float32)


def embed_counted(texts: list[str], cache_dir: Path, chunk: int) -> list[np.ndarray]:
    """`texts` embedded a chunk at a time in a progress stage ("embedding N texts (fp32 MiniLM)")."""
    parts = []
    with progress.stage(f"embedding {len(texts):,} texts (fp32 MiniLM)", total=len(texts)) as embedding:
        for i in range(0, len(texts), chunk):
            parts.append(embed_texts(texts[i : i + chunk], cache_dir))
            embedding.advance(len(parts[-1]))
    return parts


def is_cached(texts: Sequence[str], cache_dir: Path, chunk: int = CHUNK) -> bool:
    """Whether `embed(texts, cache_dir, chunk)` would only read the cache."""
    texts = list(texts)
    return all(
        (Path(cache_dir) / f"{cache_key(texts[i : i + chunk])}.npy").is_file()
        for i in range(0, len(texts), chunk)
    )


def embed_rows(split: pd.DataFrame, kept: pd.DataFrame, cache_dir: Path, column: str = "text") -> np.ndarray:
    """Embeddings of `column` in the rows `kept` of one split, in the split's order.

    A sample of a split whose full embedding is cached is cut from it; otherwise only the sample is embedded.
    """
    if len(kept) < len(split) and is_cached(split[column].tolist(), cache_dir):
        return embed(split[column].tolist(), cache_dir)[split.index.isin(kept.index)]
    return embed(kept[column].tolist(), cache_dir)


def build_splits(root: Path, cache_dir: Path, limit: int = 0) -> tuple[dict[str, TaskSplit], str]:
    """Train, val and test `TaskSplit`s of the checkout's classification table, and its data version.

    Args:
        root: the checkout.
        cache_dir: the embedding cache (e.g. `settings.home / "embeddings"`).
        limit: at most this many rows per (split, lexname); 0 keeps every row.
    """
    table, version = read_table(root)
    splits = embed_splits(table, cache_dir, limit)
    splits["train"] = feedback_rows.appended(splits["train"], root)  # labels given through POST /v1/feedback
    return splits, version


def build_question_splits(root: Path, cache_dir: Path, limit: int = 0) -> tuple[dict[str, TaskSplit], str]:
    """Train, val and test `TaskSplit`s of the checkout's sense questions (`read_questions`), and their version.

    The gate trains on train's and validates (and is calibrated) on val's, joined to the glosses; test's are
    only scored.
    """
    table, version = read_questions(root)
    return embed_splits(table, cache_dir, limit), version


def sample_questions(
    root: Path, cache_dir: Path, train_rows: int, seed: int = 0
) -> tuple[dict[str, TaskSplit], str]:
    """The gate's sense questions, bounded: `train_rows` train and a quarter as many val questions, embedded.

    A seeded random sample of each split (all of a split smaller than its bound); test's are left out (bench/
    scores them). `train_rows` 0 gives empty splits and version "".

    Returns:
        The splits, and their version: `read_questions`' with the bounds and the seed, so that a change to
        any of them changes the gate's fingerprint (`aiprime.training.planning`).
    """
    if train_rows <= 0:
        return embed_splits(pd.DataFrame(columns=QUESTION_COLUMNS), cache_dir, 0), ""
    queries, version = read_labelled_queries(root)
    bounds = {"train": train_rows, "val": max(1, train_rows // VAL_SHARE)}
    rng = np.random.default_rng(seed)
    kept = [rows_of(queries[queries.split == name], n, rng) for name, n in bounds.items()]
    chosen = asked(root, queries.loc[np.sort(np.concatenate(kept))])  # only the sample is put as questions
    bounded = f"{version}|train={bounds['train']}|val={bounds['val']}|seed={seed}"
    return embed_splits(chosen, cache_dir, 0), bounded


def rows_of(split: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    """The index of `n` rows of `split` drawn by `rng` without replacement (all of them when it has fewer)."""
    return split.index.to_numpy() if len(split) <= n else rng.choice(split.index.to_numpy(), n, replace=False)


def embed_splits(table: pd.DataFrame, cache_dir: Path, limit: int) -> dict[str, TaskSplit]:
    """One embedded `TaskSplit` per split of a labelled text table, at most `limit` rows per (split, lexname)."""
    sampled = sample(table, limit)
    splits = {}
    for name in SPLITS:
        split = table[table.split == name]
        rows = split[split.index.isin(sampled.index)]
        splits[name] = TaskSplit(
            embed_rows(split, rows, cache_dir),
            rows.synset_id.to_numpy(str),
            rows.lexname.to_numpy(str),
            rows.domain.to_numpy(str),
            embed_rows(split, rows, cache_dir, "word") if "word" in table else None,
        )
    return splits


def fine_classes() -> dict[str, tuple[str, ...]]:
    """Each domain's lexnames, sorted: an expert's classes in logit order (from the reviewed domain table)."""
    table = load_domains()
    return {d: tuple(sorted(table.lexname[table.domain == d])) for d in sorted(set(table.domain))}


def all_classes() -> tuple[str, ...]:
    """Every lexname, sorted: the dense baseline's classes in logit order."""
    return tuple(sorted(load_domains().lexname))
