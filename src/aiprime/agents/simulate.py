"""The offline executor: every tool run through the library directly, so a policy can learn from thousands of
cheap interactions instead of gateway calls.

Each tool returns a dict of named answer fields; a task reads its answer from one of them (`Task.field`).

| tool | argument | fields | here (offline) |
|---|---|---|---|
| classify | quoted span | lexname, domain | the mixture of experts (`MoESystem`) on the span's embedding |
| search | quoted span | doc_id, page, word | BM25 over every document, `aiprime.rag.lexical`'s tokenizer |
| ask | whole request | doc_id, page, word | the same index over the whole request: the answer is the top passage's (no LLM) |
| wordnet | quoted span | lexname, senses, doc_id, word | the lemma's synsets, in table order |
| foldoc | quoted span | doc_id, word | the FOLDOC entry whose term is the span (case-insensitive) |
| explain | quoted span | (none) | the gate's explanation answers no task of the suite |
| python | quoted spans | value | `plans.python_value` (the runtime runs `plans.python_program` in the sandbox) |

`ask` here retrieves but does not phrase: the runtime's ask also retrieves, and its LLM only rewords what the
top passage says, so the fields a task checks are the same.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from aiprime.agents.plans import (
    argument,
    arguments,
    chained_text,
    python_value,
    step_answer,
)
from aiprime.agents.policy import Learner
from aiprime.agents.tasks import Sources, Task, lemma_text, page_of
from aiprime.errors import InvalidInput
from aiprime.moe.embeddings import embed_texts
from aiprime.rag.lexical import K1, B, idf, tokens

if TYPE_CHECKING:
    from aiprime.moe.system import MoESystem

Classify = Callable[[Sequence[str]], list[tuple[str, str]]]  # texts -> (lexname, domain) each
Output = dict[str, str]
DOC_CHARS = 600  # of each document's text indexed (titles always): the first lines say what it is


@dataclass(frozen=True)
class LexicalIndex:
    """BM25 over a table of documents, in memory: (terms x documents) weights and the vocabulary."""

    doc_ids: np.ndarray  # (D,) str
    vocabulary: dict[str, int]  # term -> row
    weights: sparse.csr_matrix  # (V, D) BM25 weight of each term in each document, idf included

    @classmethod
    def build(cls, doc_ids: Sequence[str], texts: Sequence[str]) -> LexicalIndex:
        """Tokenise every text (the store's tokenizer) and weight it with BM25 (k1, b of `aiprime.rag.lexical`)."""
        vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        for col, text in enumerate(texts):
            for term, count in Counter(tokens(text)).items():
                rows.append(vocabulary.setdefault(term, len(vocabulary)))
                cols.append(col)
                counts.append(count)
        tf = sparse.csr_matrix((counts, (rows, cols)), shape=(len(vocabulary), len(texts)), dtype=np.float32)
        lengths = np.asarray(tf.sum(axis=0)).ravel()  # (D,)
        norm = K1 * (1 - B + B * lengths / max(lengths.mean(), 1e-9))  # (D,)
        tf = tf.tocoo()
        bm25 = tf.data * (K1 + 1) / (tf.data + norm[tf.col])
        df = np.bincount(tf.row, minlength=len(vocabulary))  # (V,)
        term_idf = np.array([idf(len(texts), int(n)) for n in df], dtype=np.float32)
        weights = sparse.csr_matrix((bm25 * term_idf[tf.row], (tf.row, tf.col)), shape=tf.shape)
        return cls(np.asarray(doc_ids, dtype=object), vocabulary, weights)

    def top(self, query: str, k: int = 1) -> list[str]:
        """The ids of the `k` best documents for `query`, best first; none when no term is known."""
        rows = [self.vocabulary[t] for t in set(tokens(query)) if t in self.vocabulary]
        if not rows:
            return []
        scores = np.asarray(self.weights[rows].sum(axis=0)).ravel()  # (D,)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best = top[np.argsort(-scores[top], kind="stable")]
        return [str(self.doc_ids[i]) for i in best if scores[i] > 0]


def indexed_text(title: str, text: str, source: str) -> str:
    """What the index holds of a document: its title and the start of its text (more of a docs section, whose
    defining directive may come after a long introduction)."""
    return f"{title} {text[: DOC_CHARS * 8 if source == 'pydocs' else DOC_CHARS]}"


class Toolbox:
    """The tools over the data, memoised by argument: a request's tools run once however often it is drawn."""

    def __init__(
        self, sources: Sources, classify: Classify | None, index: LexicalIndex | None = None
    ) -> None:
        docs = sources.documents
        self.index = index or LexicalIndex.build(
            docs.doc_id.tolist(), list(map(indexed_text, docs.title, docs.text, docs.source))
        )
        self.classify_texts = classify
        self.synsets = synset_index(sources)
        self.lemmas = {
            f"wn:{s}": [lemma_text(x) for x in lemmas]
            for s, lemmas in sources.synsets[["synset_id", "lemmas"]].itertuples(index=False)
        }
        self.titles = dict(zip(docs.doc_id, docs.title, strict=True))
        foldoc = docs[docs.source == "foldoc"]
        self.foldoc_terms = {
            t.lower(): d for d, t in zip(foldoc.doc_id[::-1], foldoc.title[::-1], strict=True)
        }
        self.classified: dict[str, tuple[str, str]] = {}
        self.run_tool = functools.lru_cache(maxsize=None)(self._run_tool)

    def run(self, tools: Sequence[str], text: str) -> Output:
        """The output of the plan `tools` on request `text`; an empty dict when a step has nothing to pass on."""
        output: Output = {}
        for step, tool in enumerate(tools):
            if step:
                answer = step_answer(output)
                if not answer:
                    return {}
                text = chained_text(text, answer)
            output = self.run_tool(tool, text)
        return output

    def _run_tool(self, tool: str, text: str) -> Output:
        try:
            return getattr(self, f"tool_{tool}")(text)
        except InvalidInput:  # what a person would see as the tool's error: no answer
            return {}

    def classify_all(self, texts: Sequence[str]) -> None:
        """Classify every request's argument in one batch (one embedding pass), for `tool_classify` to read."""
        if self.classify_texts is None:  # no trained classifier yet: classify answers nothing
            return
        todo = sorted({argument(text, "classify") for text in texts} - set(self.classified))
        self.classified |= dict(zip(todo, self.classify_texts(todo) if todo else [], strict=True))

    def tool_classify(self, text: str) -> Output:
        self.classify_all([text])
        if argument(text, "classify") not in self.classified:
            return {}
        lexname, domain = self.classified[argument(text, "classify")]
        return {"lexname": lexname, "domain": domain}

    def tool_search(self, text: str) -> Output:
        return self.document_fields(self.index.top(argument(text, "search")))

    def tool_ask(self, text: str) -> Output:
        return self.document_fields(self.index.top(argument(text, "ask")))

    def tool_wordnet(self, text: str) -> Output:
        word = argument(text, "wordnet")
        senses = self.synsets.get(word.lower(), [])
        if not senses:
            return {}
        synset_id, lexname = senses[0]
        return {"lexname": lexname, "senses": str(len(senses)), "doc_id": f"wn:{synset_id}", "word": word}

    def tool_foldoc(self, text: str) -> Output:
        doc_id = self.foldoc_terms.get(argument(text, "foldoc").lower())
        return {"doc_id": doc_id, "word": self.titles[doc_id]} if doc_id else {}

    def tool_explain(self, text: str) -> Output:
        return {}

    def tool_python(self, text: str) -> Output:
        return {"value": python_value(arguments(text))}

    def document_fields(self, doc_ids: list[str]) -> Output:
        """The answer fields of a ranking's best document: its id, its docs page, its word."""
        if not doc_ids:
            return {}
        top = doc_ids[0]
        word = self.lemmas[top][0] if top in self.lemmas else self.titles[top]
        fields = {"doc_id": top, "word": word}
        return fields | ({"page": page_of(top)} if top.startswith("pydoc:") else {})


def moe_classifier(system: MoESystem, cache_dir: Path) -> Classify:
    """classify through a mixture of experts: each text embedded (cached by content), routed, classified."""

    def classify(texts: Sequence[str]) -> list[tuple[str, str]]:
        prediction = system.predict(embed_texts(texts, cache_dir))
        return list(zip(prediction.fine_class, prediction.expert, strict=True))

    return classify


def synset_index(sources: Sources) -> dict[str, list[tuple[str, str]]]:
    """Lemma as written, lowercased -> its synsets' (id, lexname), in table order."""
    index: dict[str, list[tuple[str, str]]] = {}
    for synset_id, lexname, lemmas in sources.synsets[["synset_id", "lexname", "lemmas"]].itertuples(
        index=False
    ):
        for lemma in lemmas:
            index.setdefault(lemma_text(lemma).lower(), []).append((synset_id, lexname))
    return index


def reward_matrix(toolbox: Toolbox, tasks: Sequence[Task], plans: Sequence[tuple[str, ...]]) -> np.ndarray:
    """(T, P) reward of each plan on each task: every interaction's outcome, computed once."""
    toolbox.classify_all([task.text for task in tasks])
    return np.array(
        [[task.reward(toolbox.run(plan, task.text)) for plan in plans] for task in tasks], dtype=np.float32
    )


@dataclass(frozen=True)
class Interactions:
    """Logged bandit interactions: what off-policy evaluation reads."""

    rows: np.ndarray  # (N,) index of the task (its context row)
    actions: np.ndarray  # (N,) index of the plan chosen
    propensities: np.ndarray  # (N,) its probability under the policy that chose it
    rewards: np.ndarray  # (N,) 0/1


def curve_point(policy: Learner, n: int, rewards: list[float], regrets: list[float], test: tuple) -> dict:
    """One point of the learning curve: mean reward so far, cumulative regret, greedy success on test."""
    x_test, r_test = test
    greedy = policy.pmf(x_test).argmax(axis=1)  # (T,)
    return {
        "interactions": n,
        "mean_reward": float(np.mean(rewards)),
        "cumulative_regret": float(np.sum(regrets)),
        "test_success": float(r_test[np.arange(len(r_test)), greedy].mean()),
    }


def train(
    learner: Learner,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    interactions: int,
    seed: int = 0,
    every: int = 250,
) -> tuple[list[dict], Interactions]:
    """Teach `learner` online: each step draws a training task, samples a plan from the learner's pmf,
    reveals that plan's reward (from the reward matrix), and learns from it.

    Args:
        learner: the bandit, updated in place.
        train: (contexts (N, d), rewards (N, P)) of the training tasks.
        test: the same for held-out templates, scored greedily every `every` steps.
        interactions: simulated interactions in all.
        seed: draws of tasks and plans.

    Returns:
        The learning curve (reward, regret against the oracle, test success) and the logged interactions.
    """
    (x, r), rng = train, np.random.default_rng(seed)
    log: list[tuple[int, int, float, float]] = []  # (row, action, propensity, reward)
    rewards, regrets, curve = [], [], []
    for step in range(1, interactions + 1):
        row = int(rng.integers(len(x)))
        pmf = learner.pmf(x[row])[0]  # (P,)
        action = int(rng.choice(len(pmf), p=pmf / pmf.sum()))
        learner.learn(x[row], action, float(r[row, action]), float(pmf[action]))
        log.append((row, action, float(pmf[action]), float(r[row, action])))
        rewards.append(r[row, action])
        regrets.append(r[row].max() - r[row, action])
        if step % every == 0 or step == interactions:
            curve.append(curve_point(learner, step, rewards, regrets, test))
    rows, actions, propensities, logged_rewards = (np.array(column) for column in zip(*log, strict=True))
    return curve, Interactions(rows.astype(int), actions.astype(int), propensities, logged_rewards)
