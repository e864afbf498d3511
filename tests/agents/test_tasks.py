"""The task suite: seeded, split by template, with answers a right output scores 1 on and a wrong one 0."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from aiprime.agents.tasks import KINDS, TEMPLATES, Sources, build_suite, split_tasks
from aiprime.errors import DataSourceMissing, InvalidInput


@pytest.fixture(scope="module")
def sources(subset_splits: Path) -> Sources:
    return Sources.load(subset_splits.parent)


def test_suite_is_seeded(sources: Sources) -> None:
    assert build_suite(sources, 20, seed=3) == build_suite(sources, 20, seed=3)
    assert build_suite(sources, 20, seed=3) != build_suite(sources, 20, seed=4)


def test_every_kind_is_built_with_its_answer_field(sources: Sources) -> None:
    suite = build_suite(sources, 20)
    assert {task.kind for task in suite} == set(KINDS)
    assert all(task.gold and task.text.count('"') >= 2 for task in suite)


def test_test_split_holds_only_templates_train_never_saw(sources: Sources) -> None:
    suite = build_suite(sources, 40)
    train, test = split_tasks(suite, "train"), split_tasks(suite, "test")
    assert train and test
    assert not {t.template for t in train} & {t.template for t in test}
    assert {t.template for t in test} == {f"{kind}/{len(TEMPLATES[kind]) - 1}" for kind in KINDS}


def test_a_right_answer_scores_one_and_a_wrong_one_zero(sources: Sources) -> None:
    task = next(t for t in build_suite(sources, 20) if t.kind == "foldoc")
    assert task.reward({"doc_id": task.gold[0], "word": "x"}) == 1.0
    assert task.reward({"doc_id": "foldoc:not-it"}) == 0.0
    assert task.reward({}) == 0.0


def test_date_gold_is_the_calendar(sources: Sources) -> None:
    for task in (t for t in build_suite(sources, 30) if t.kind == "date"):
        dates = [dt.date.fromisoformat(d) for d in task.text.split('"')[1::2]]
        expected = str((dates[1] - dates[0]).days) if len(dates) == 2 else dates[0].strftime("%A")
        assert task.gold == (expected,), task.text


def test_arithmetic_gold_is_the_expressions_value(sources: Sources) -> None:
    for task in (t for t in build_suite(sources, 30) if t.kind == "arithmetic"):
        expression = task.text.split('"')[1]
        assert task.gold == (str(eval(expression, {"__builtins__": {}})),), (
            task.text
        )  # digits and operators the suite wrote


def test_missing_data_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataSourceMissing, match="aiprime data ingest"):
        Sources.load(tmp_path)


def test_zero_tasks_is_refused(sources: Sources) -> None:
    with pytest.raises(InvalidInput, match="per_kind"):
        build_suite(sources, 0)
