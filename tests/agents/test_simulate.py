"""The offline executor on the tests' data subset: each tool answers from the library, plans chain, and a
policy trained on the simulator beats random plans on templates it never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.bow_embedder import hashed_bag_of_words

from aiprime.agents.plans import PLANS
from aiprime.agents.policy import ToolPolicy, contexts
from aiprime.agents.simulate import Toolbox, reward_matrix, train
from aiprime.agents.tasks import Sources, Task, build_suite


@pytest.fixture(scope="module")
def sources(subset_splits: Path) -> Sources:
    return Sources.load(subset_splits.parent)


@pytest.fixture(scope="module")
def toolbox(sources: Sources) -> Toolbox:
    """The tools over the subset; classify is the nearest WordNet gloss's class (bag-of-words vectors)."""
    glosses = sources.synsets.reset_index(drop=True)
    vectors = hashed_bag_of_words(glosses.gloss.tolist())

    def classify(texts: list[str]) -> list[tuple[str, str]]:
        nearest = (hashed_bag_of_words(texts) @ vectors.T).argmax(axis=1)
        return [(glosses.lexname[i], "") for i in nearest]

    return Toolbox(sources, classify)


@pytest.fixture(scope="module")
def suite(sources: Sources) -> list[Task]:
    return build_suite(sources, 40, seed=5)


def first(suite: list[Task], kind: str) -> Task:
    return next(task for task in suite if task.kind == kind)


@pytest.mark.parametrize(
    ("kind", "plan"),
    [
        ("foldoc", ("foldoc",)),
        ("arithmetic", ("python",)),
        ("date", ("python",)),
        ("word_class", ("wordnet",)),
        ("senses", ("search", "wordnet")),
    ],
)
def test_the_right_plan_earns_the_reward_and_explain_never_does(
    toolbox: Toolbox, suite: list[Task], kind: str, plan: tuple[str, ...]
) -> None:
    task = first(suite, kind)
    assert task.reward(toolbox.run(plan, task.text)) == 1.0, (task, toolbox.run(plan, task.text))
    assert task.reward(toolbox.run(("explain",), task.text)) == 0.0


def test_a_tool_that_cannot_run_answers_nothing(toolbox: Toolbox, suite: list[Task]) -> None:
    task = first(suite, "foldoc")
    assert toolbox.run(("python",), task.text) == {}  # a term is not arithmetic: no answer, no error


def test_the_senses_kind_needs_both_tools(toolbox: Toolbox, suite: list[Task]) -> None:
    senses = [task for task in suite if task.kind == "senses"]
    rewards = reward_matrix(toolbox, senses, PLANS)
    assert rewards[:, PLANS.index(("search", "wordnet"))].mean() > 0.5
    assert rewards[:, PLANS.index(("search",))].max() == rewards[:, PLANS.index(("wordnet",))].max() == 0.0


def test_a_policy_trained_offline_beats_random_plans_on_held_out_templates(
    toolbox: Toolbox, suite: list[Task]
) -> None:
    rewards = reward_matrix(toolbox, suite, PLANS)
    x = contexts(hashed_bag_of_words, [task.text for task in suite])
    test = np.array([task.split == "test" for task in suite])
    policy = ToolPolicy.new("vw", hashed_bag_of_words, "hashed-bow-test")
    curve, _ = train(
        policy.learner, (x[~test], rewards[~test]), (x[test], rewards[test]), interactions=1500, every=1500
    )
    assert curve[-1]["test_success"] > rewards[test].mean() + 0.2
