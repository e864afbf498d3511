"""The tool policy: a contextual bandit over a request's embedding that chooses a tool plan.

The context is all-MiniLM-L6-v2's embedding of the request with its quoted subject blanked (`"..."`), so the
policy reads what is asked, not what about: a phrasing it never saw lands near the ones it learned from.
Two learners, chosen by measurement (`bench/agent_policy.py`):

- `vw`: Vowpal Wabbit's `--cb_explore_adf` (one line per plan, the context crossed with the plan's name and
  tools), epsilon-greedy exploration; VW's own pmf gives each choice's propensity.
- `linucb`: mabwiser's LinUCB (one ridge regression per plan), made epsilon-greedy on its upper confidence
  bounds so that every choice has a propensity.

`ToolPolicy.choose(text)` samples a plan from the exploration pmf and returns it with its propensity, which
the runtime logs with the reward for off-policy evaluation (`aiprime.agents.offpolicy`). A policy is saved
as a folder (`policy.json` and the learner's state, no pickles) and loaded with `load_policy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from aiprime.agents.plans import PLANS, Plan, parse_plan, plan_name
from aiprime.errors import DataCorrupt, InvalidInput, NotFound

if TYPE_CHECKING:
    from aiprime.registry.mlflow_registry import Promotion

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (N, d) float32
EPSILON = 0.1  # exploration share: the logs then cover every plan, which off-policy evaluation needs
POLICY_FILE = "policy.json"
QUOTED = re.compile(r'"[^"]*"')


def blank_subject(text: str) -> str:
    """The request with every quoted span blanked: `Which word means "..."?`."""
    return QUOTED.sub('"..."', text)


def contexts(embed: Embed, texts: Sequence[str]) -> np.ndarray:
    """The policy's context of each request: the embedding of its blanked form, (N, d)."""
    return np.asarray(embed([blank_subject(text) for text in texts]), dtype=np.float32)


class Learner(Protocol):
    """A contextual bandit learner over a fixed list of plans."""

    def pmf(self, x: np.ndarray) -> np.ndarray:
        """The exploration distribution over plans for each context: (N, d) -> (N, P)."""

    def learn(self, x: np.ndarray, action: int, reward: float, propensity: float) -> None:
        """Update on one interaction: context (d,), the plan's index, its reward, its propensity."""

    def save(self, folder: Path) -> None:
        """Write the learner's state into `folder`."""


class VWLearner:
    """Vowpal Wabbit's `--cb_explore_adf`: the context crossed with each plan's features, epsilon-greedy."""

    ARGS = "--cb_explore_adf --epsilon {epsilon} -q SA --quiet --random_seed {seed}"
    MODEL_FILE = "vw.model"

    def __init__(
        self,
        plans: Sequence[tuple[str, ...]],
        epsilon: float = EPSILON,
        seed: int = 0,
        model: Path | None = None,
    ) -> None:
        from vowpalwabbit import Workspace  # a compiled extension: loaded when a VW policy is made

        self.plans = tuple(plans)
        args = f"--quiet -i {model}" if model else self.ARGS.format(epsilon=epsilon, seed=seed)
        self.workspace = Workspace(args)
        self.action_lines = [
            f"|A plan={plan_name(p)} " + " ".join(f"tool_{t}" for t in p) for p in self.plans
        ]

    def example(self, x: np.ndarray, label: tuple[int, float, float] | None = None) -> list[str]:
        """VW's multi-line example: the shared context, then one line per plan (the chosen one labelled)."""
        shared = "shared |S " + " ".join(f"{i}:{v:.5f}" for i, v in enumerate(x) if v)
        lines = list(self.action_lines)
        if label:
            action, cost, propensity = label
            lines[action] = f"0:{cost}:{propensity} {lines[action]}"
        return [shared, *lines]

    def pmf(self, x: np.ndarray) -> np.ndarray:
        return np.array([self.workspace.predict(self.example(row)) for row in np.atleast_2d(x)])

    def learn(self, x: np.ndarray, action: int, reward: float, propensity: float) -> None:
        self.workspace.learn(self.example(x, (action, -reward, propensity)))  # VW minimises cost

    def save(self, folder: Path) -> None:
        self.workspace.save(str(folder / self.MODEL_FILE))

    @classmethod
    def load(cls, folder: Path, plans: Sequence[tuple[str, ...]], settings: dict) -> VWLearner:
        return cls(plans, model=folder / cls.MODEL_FILE)


class LinUCBLearner:
    """mabwiser's LinUCB, one ridge regression per plan, epsilon-greedy on the upper confidence bounds.

    Its state is the interactions it learned from (`interactions.npz`): loading refits them, which gives the
    same regressions (a fit is a sum over interactions), without pickling mabwiser's objects.
    """

    DATA_FILE = "interactions.npz"

    def __init__(
        self,
        plans: Sequence[tuple[str, ...]],
        epsilon: float = EPSILON,
        seed: int = 0,
        alpha: float = 0.5,
        batch: int = 25,
    ) -> None:
        self.plans, self.epsilon, self.seed, self.alpha, self.batch = (
            tuple(plans),
            epsilon,
            seed,
            alpha,
            batch,
        )
        self.mab = None
        self.x: list[np.ndarray] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []
        self.fitted = 0  # interactions the regressions hold; the rest wait for the next batch

    def pmf(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        pmf = np.full((len(x), len(self.plans)), self.epsilon / len(self.plans))
        if self.mab is None:
            return np.full_like(pmf, 1 / len(self.plans))
        scores = self.mab.predict_expectations(x)  # LinUCB's upper bounds, one dict per row
        scores = [scores] if isinstance(scores, dict) else scores
        best = [max(range(len(self.plans)), key=lambda a: (row[a], -a)) for row in scores]
        pmf[np.arange(len(x)), best] += 1 - self.epsilon
        return pmf

    def learn(self, x: np.ndarray, action: int, reward: float, propensity: float) -> None:
        self.x.append(np.asarray(x, dtype=np.float64))
        self.actions.append(action)
        self.rewards.append(reward)
        if len(self.actions) - self.fitted >= self.batch:
            self.fit_pending()

    def fit_pending(self) -> None:
        """Fit the interactions not yet in the regressions (mabwiser inverts each plan's matrix per fit)."""
        from mabwiser.mab import MAB, LearningPolicy

        start, self.fitted = self.fitted, len(self.actions)
        x, a, r = np.stack(self.x[start:]), self.actions[start:], self.rewards[start:]
        if self.mab is None:
            policy = LearningPolicy.LinUCB(alpha=self.alpha)
            self.mab = MAB(list(range(len(self.plans))), policy, seed=self.seed)
            self.mab.fit(a, r, x)
        else:
            self.mab.partial_fit(a, r, x)

    def save(self, folder: Path) -> None:
        np.savez(
            folder / self.DATA_FILE,
            x=np.stack(self.x),
            actions=np.array(self.actions),
            rewards=np.array(self.rewards),
        )

    def settings(self) -> dict:
        return {"alpha": self.alpha, "batch": self.batch, "seed": self.seed}

    @classmethod
    def load(cls, folder: Path, plans: Sequence[tuple[str, ...]], settings: dict) -> LinUCBLearner:
        learner = cls(plans, settings["epsilon"], settings["seed"], settings["alpha"], settings["batch"])
        with np.load(folder / cls.DATA_FILE, allow_pickle=False) as data:
            learner.x, learner.actions, learner.rewards = (
                list(data["x"]),
                data["actions"].tolist(),
                data["rewards"].tolist(),
            )
        learner.fit_pending()
        return learner


LEARNERS = {"vw": VWLearner, "linucb": LinUCBLearner}


class ToolPolicy:
    """Chooses a tool plan for a request: a learner over the request's context, plus how to embed it."""

    def __init__(
        self,
        learner_name: str,
        learner: Learner,
        embed: Embed,
        embedder: str,
        plans: Sequence[tuple[str, ...]] = PLANS,
        seed: int = 0,
    ) -> None:
        self.learner_name, self.learner, self.embed, self.embedder = learner_name, learner, embed, embedder
        self.plans = tuple(plans)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def new(
        cls,
        learner_name: str,
        embed: Embed,
        embedder: str,
        plans: Sequence[tuple[str, ...]] = PLANS,
        seed: int = 0,
        **options: float,
    ) -> ToolPolicy:
        """An untrained policy with learner `vw` or `linucb` (options: `epsilon`, and LinUCB's `alpha`)."""
        if learner_name not in LEARNERS:
            raise InvalidInput(f"learner={learner_name!r}; use one of {sorted(LEARNERS)}.")
        return cls(
            learner_name, LEARNERS[learner_name](plans, seed=seed, **options), embed, embedder, plans, seed
        )

    def choose(self, text: str) -> Plan:
        """A plan for `text`, drawn from the exploration pmf, with the probability it had of being drawn."""
        pmf = self.learner.pmf(contexts(self.embed, [text]))[0]  # (P,)
        action = int(self.rng.choice(len(self.plans), p=pmf / pmf.sum()))
        return Plan(self.plans[action], float(pmf[action]))

    def best(self, x: np.ndarray) -> np.ndarray:
        """The index of the most probable plan for each context (N, d): the policy without exploration."""
        return self.learner.pmf(x).argmax(axis=1)

    def save(self, folder: Path) -> Path:
        """Write `policy.json` and the learner's state into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.learner.save(folder)
        settings = getattr(self.learner, "settings", dict)() | {
            "epsilon": getattr(self.learner, "epsilon", EPSILON)
        }
        meta = {
            "learner": self.learner_name,
            "embedder": self.embedder,
            "plans": [plan_name(p) for p in self.plans],
            "settings": settings,
        }
        (folder / POLICY_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return folder


def read_meta(folder: Path) -> dict:
    """`policy.json` of a saved policy, or an error naming the fix."""
    path = Path(folder) / POLICY_FILE
    if not path.is_file():
        raise NotFound(
            f"{path} not found: {folder} is not a saved tool policy. Train one (the agent_policy asset)."
        )
    try:
        meta = json.loads(path.read_text())
        return meta | {"plans": [parse_plan(name) for name in meta["plans"]]}
    except (ValueError, KeyError, InvalidInput) as e:
        raise DataCorrupt(f"{path} is not a tool policy's description: {e}. Retrain the policy.") from e


CURVE_FILE = "learning_curve.json"


def curve_path(home: Path) -> Path:
    """Where the latest retraining wrote the policy's learning curve (`<AIPRIME_HOME>/agents/`), which the
    console draws."""
    return home / "agents" / CURVE_FILE


REGISTERED_NAME = "aiprime-agent-policy"
MODELS_URI = re.compile(r"^models:/(?P<name>[\w.-]+)@(?P<alias>[\w-]+)$")


def minilm_embed(embedder: str) -> Embed:
    """The encoder of a MiniLM embedder id (fp32 through sentence-transformers, or its int8 ONNX export)."""
    from aiprime.rag.embed import MODELS

    for model_id, encode in MODELS.values():
        if model_id() == embedder:
            return lambda texts: encode(list(texts), 64)
    raise InvalidInput(
        f"The policy was trained on embeddings of {embedder!r}; pass `embed=` with that model."
    )


def load_policy(
    path_or_uri: str | Path, tracking_uri: str | None = None, embed: Embed | None = None
) -> ToolPolicy:
    """A saved policy, from its folder or from MLflow (`models:/aiprime-agent-policy@champion`).

    Args:
        path_or_uri: a folder `ToolPolicy.save` wrote, or `models:/<name>@<alias>`.
        tracking_uri: the MLflow server of a `models:/` URI (default: `Settings().mlflow_url`).
        embed: the request encoder; default the MiniLM model `policy.json` names.
    """
    found = MODELS_URI.match(str(path_or_uri))
    if found:
        return load_registered(found["name"], found["alias"], tracking_uri, embed)
    meta = read_meta(Path(path_or_uri))
    if meta["learner"] not in LEARNERS:
        raise DataCorrupt(f"{path_or_uri} names the learner {meta['learner']!r}; known: {sorted(LEARNERS)}.")
    learner = LEARNERS[meta["learner"]].load(Path(path_or_uri), meta["plans"], meta["settings"])
    return ToolPolicy(
        meta["learner"], learner, embed or minilm_embed(meta["embedder"]), meta["embedder"], meta["plans"]
    )


def load_registered(name: str, alias: str, tracking_uri: str | None, embed: Embed | None) -> ToolPolicy:
    """The policy version of `name` that carries `alias` in MLflow, downloaded to a temporary folder."""
    import tempfile

    from aiprime.registry import mlflow_registry as registry
    from aiprime.settings import Settings

    with tempfile.TemporaryDirectory(prefix="aiprime-policy-") as tmp:
        folder = registry.download(tracking_uri or Settings().mlflow_url, name, alias, Path(tmp))
        return load_policy(folder, embed=embed)


PROMPT = (
    "You choose the tools that answer a request. Tools:\n"
    "classify: the WordNet category (lexicographer class) of a definition\n"
    "search: the document or the word that matches a quoted text\n"
    "ask: answer a question from the documents\n"
    "wordnet: a word's senses and category in WordNet\n"
    "foldoc: a computing term in the FOLDOC dictionary\n"
    "explain: the words that pushed the classifier\n"
    "python: compute arithmetic or dates\n"
    "Two tools run in order when joined by +: search+wordnet, search+foldoc, foldoc+search.\n"
    "Reply with the tool name (or the two joined by +) and nothing else."
)
EXAMPLES = (  # a few shots in the training templates' phrasings, each with the plan that answers it
    ('Which lexicographer class does this gloss belong to: "a large wild feline"?', "classify"),
    ('What is the lexicographer class of the word "run"?', "wordnet"),
    ('What is "Ethernet" in computing?', "foldoc"),
    ('Which page of the Python docs documents "json.dumps"?', "search"),
    ('Which word means "a young dog"?', "search"),
    ('Compute "15 * 4 - 2".', "python"),
    ('Which day of the week was "2001-09-01"?', "python"),
    ('How many senses does the word meaning "a domestic feline" have in WordNet?', "search+wordnet"),
)


class PromptChooser:
    """An LLM choosing a plan from a prompt (the baseline the learned policy is measured against)."""

    def __init__(
        self, generator: object, plans: Sequence[tuple[str, ...]] = PLANS, fallback: str = "ask"
    ) -> None:
        self.generator, self.plans, self.fallback = generator, tuple(plans), parse_plan(fallback)

    def reply_plan(self, reply: str) -> tuple[str, ...] | None:
        """The plan the reply names first (at one place, the longest name: `search+wordnet`, not `search`)."""
        reply = reply.lower()
        found = [
            (reply.find(plan_name(p)), -len(plan_name(p)), p) for p in self.plans if plan_name(p) in reply
        ]
        return min(found)[2] if found else None

    def choose(self, text: str) -> tuple[tuple[str, ...], bool]:
        """The plan the model names for `text` (the fallback when it names none), and whether it named one."""
        shots = [{"role": r, "content": c} for q, a in EXAMPLES for r, c in (("user", q), ("assistant", a))]
        messages = [{"role": "system", "content": PROMPT}, *shots, {"role": "user", "content": text}]
        plan = self.reply_plan(self.generator.complete(messages, max_tokens=8))
        return (plan, True) if plan else (self.fallback, False)


EXPERIMENT = "aiprime-agents"


def register_policy(
    tracking_uri: str,
    policy: ToolPolicy,
    challenger_value: float,
    champion_value: float | None,
    tags: dict[str, str],
) -> Promotion:
    """Register `policy` as the `challenger` of `aiprime-agent-policy`; promote it only if its off-policy value
    beats the champion's (both doubly robust estimates on the same log). Returns the `registry.Promotion`.

    Args:
        tracking_uri: the MLflow server.
        policy: the newly trained policy.
        challenger_value: its estimated success on the logged interactions.
        champion_value: the current champion's estimate on the same log; None when there is no champion.
        tags: lineage and measurements, stored on the run and the version.
    """
    import tempfile

    from mlflow import MlflowClient

    from aiprime.registry import mlflow_registry as registry

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment, run_name=f"tool policy ({policy.learner_name})", tags=tags)
    client.log_metric(run.info.run_id, "dr_value", challenger_value)
    with tempfile.TemporaryDirectory(prefix="aiprime-policy-") as tmp:
        folder = policy.save(Path(tmp) / "policy")
        registry.register(
            tracking_uri,
            REGISTERED_NAME,
            folder,
            run.info.run_id,
            tags | {"dr_value": f"{challenger_value:.6f}"},
        )
    client.set_terminated(run.info.run_id)
    return registry.promote(tracking_uri, REGISTERED_NAME, challenger_value, champion_value)


def registered_champion(tracking_uri: str, embed: Embed | None = None) -> ToolPolicy | None:
    """The champion policy in MLflow, or None when none is registered yet."""
    from aiprime.registry import mlflow_registry as registry

    if registry.version_for(tracking_uri, REGISTERED_NAME, registry.CHAMPION) is None:
        return None
    return load_policy(f"models:/{REGISTERED_NAME}@{registry.CHAMPION}", tracking_uri, embed)
