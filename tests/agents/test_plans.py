"""Plans: arguments, chaining, and the python tool's program, which computes only arithmetic and dates."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aiprime.agents.plans import (
    PLANS,
    TOOLS,
    argument,
    chained_text,
    parse_plan,
    plan_name,
    python_program,
    python_value,
)
from aiprime.errors import InvalidInput


def test_plans_use_the_runtime_tool_names() -> None:
    assert TOOLS == (
        "classify",
        "search",
        "ask",
        "wordnet",
        "foldoc",
        "explain",
        "python",
        "transcribe",
        "image_search",
    )
    assert {tool for plan in PLANS for tool in plan} <= set(TOOLS) - {"transcribe", "image_search"}
    assert all(parse_plan(plan_name(plan)) == plan for plan in PLANS)
    with pytest.raises(InvalidInput, match="tools are"):
        parse_plan("search+shell")


def test_tools_take_the_quoted_span_and_ask_the_whole_request() -> None:
    text = 'What is "lambda calculus" in computing?'
    assert argument(text, "foldoc") == "lambda calculus"
    assert argument(text, "ask") == text
    assert chained_text('Count the senses of "a small dog"', "puppy") == 'Count the senses of "puppy"'


@pytest.mark.parametrize(
    ("spans", "value"),
    [
        (["(773 - 85) * 48"], "33024"),
        (["940 // 89 + 97"], "107"),
        (["2024-02-29"], "Thursday"),
        (["2024-02-28", "2024-03-01"], "2"),
    ],
)
def test_program_prints_the_value_the_simulator_computes(spans: list[str], value: str) -> None:
    assert python_value(spans) == value
    done = subprocess.run(
        [sys.executable, "-I", "-c", python_program(spans)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == value


@pytest.mark.parametrize("expression", ['__import__("os").getcwd()', "2 ** 10", "open('x')", "1 +", "x * 2"])
def test_anything_but_integer_arithmetic_is_refused(expression: str) -> None:
    with pytest.raises(InvalidInput):
        python_program([expression])
