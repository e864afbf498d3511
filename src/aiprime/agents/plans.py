"""Tool plans: which tools an agent calls for a request, in order, and how a plan's steps pass their answers on.

A plan is a tuple of tool names. The runtime (`aiprime.agents.graph`, through the gateway) and the offline
simulator (`aiprime.agents.simulate`, through the library) execute the same plans with the same argument
rules, so a policy trained on the simulator chooses plans the runtime can run:

- a tool's argument is the request's first double-quoted span (the whole request for `ask`);
- in a two-tool plan the second tool gets the request with that span replaced by the first tool's answer
  (its `word`, else its `value`);
- `python` runs the program `python_program` writes from the request's quoted spans: the value of an integer
  expression, the weekday of one ISO date, or the days between two;
- `transcribe` and `image_search` read the file the quoted span names (an audio clip, an image): a request
  about a media file gets that tool's plan (`media_plan`) whatever chooses the others.
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aiprime.errors import InvalidInput

TEXT_TOOLS = ("classify", "search", "ask", "wordnet", "foldoc", "explain", "python")
MEDIA_TOOLS = ("transcribe", "image_search")  # take a file: an audio clip, an image
TOOLS = TEXT_TOOLS + MEDIA_TOOLS  # the runtime's tool names
PLANS: tuple[tuple[str, ...], ...] = (  # what the learned policy chooses among, for text requests
    *((tool,) for tool in TEXT_TOOLS),
    ("search", "wordnet"),
    ("search", "foldoc"),
    ("foldoc", "search"),
)
#: A request whose subject is a media file (by its suffix) is the media tool's: the policy reads requests with
#: their subject blanked, so it cannot see a file's type, and the type alone decides which tool reads it.
MEDIA_SUFFIXES = {
    **dict.fromkeys((".wav", ".ogg", ".flac", ".mp3"), "transcribe"),
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"), "image_search"),
}
QUOTED = re.compile(r'"([^"]+)"')
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
MAX_EXPRESSION_CHARS = 200


@dataclass(frozen=True)
class Plan:
    """The tools a policy chose for one request, and the probability it had of choosing them."""

    tools: tuple[str, ...]
    propensity: (
        float  # P(this plan | request) under the policy that chose it: what off-policy evaluation needs
    )

    @property
    def name(self) -> str:
        """`search+wordnet`: the plan's tools joined by `+`."""
        return plan_name(self.tools)


def plan_name(tools: tuple[str, ...]) -> str:
    """A plan's name, its tools joined by `+`."""
    return "+".join(tools)


def parse_plan(name: str) -> tuple[str, ...]:
    """The tools of a plan name; raises InvalidInput naming the known tools for an unknown one."""
    tools = tuple(name.split("+"))
    if unknown := [tool for tool in tools if tool not in TOOLS]:
        raise InvalidInput(f"Unknown tool(s) {unknown} in plan {name!r}; tools are {list(TOOLS)}.")
    return tools


def arguments(text: str) -> list[str]:
    """The request's double-quoted spans, in order: the tools' arguments."""
    return [span.strip() for span in QUOTED.findall(text)]


def media_plan(text: str) -> tuple[str, ...] | None:
    """The media tool's plan for a request whose first quoted span names an audio or image file, else None."""
    spans = arguments(text)
    suffix = spans[0].lower().rpartition(".")[2] if spans and "." in spans[0] else ""
    tool = MEDIA_SUFFIXES.get(f".{suffix}")
    return (tool,) if tool else None


def argument(text: str, tool: str) -> str:
    """What `tool` is called with: the first quoted span, or the whole request (for `ask`, or when unquoted)."""
    spans = arguments(text)
    return text if tool == "ask" or not spans else spans[0]


def step_answer(output: Mapping[str, str]) -> str | None:
    """The answer a plan's step passes to the next one: its `word`, else its `value`."""
    return output.get("word") or output.get("value")


def chained_text(text: str, answer: str) -> str:
    """The request for a plan's next step: the first quoted span replaced by the previous step's answer."""
    return QUOTED.sub(lambda _: f'"{answer}"', text, count=1) if QUOTED.search(text) else f'"{answer}"'


def integer_value(node: ast.AST) -> int:
    """The value of an expression of integer literals and + - * // % (nothing else is evaluated)."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return OPERATORS[type(node.op)](integer_value(node.left), integer_value(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -integer_value(node.operand)
    raise InvalidInput(f"{ast.unparse(node)!r} is not integer arithmetic; use integers and + - * // %.")


def parsed_expression(expression: str) -> ast.Expression:
    """`expression` parsed, or InvalidInput saying what python accepts."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise InvalidInput(
            f"The expression has {len(expression)} characters; at most {MAX_EXPRESSION_CHARS}."
        )
    try:
        return ast.parse(expression, mode="eval")
    except SyntaxError as e:
        raise InvalidInput(f"Cannot parse {expression!r}: {e.msg}. Quote an integer expression.") from e


def iso_dates(spans: list[str]) -> list[dt.date]:
    """The spans that are ISO dates, as dates."""
    try:
        return [dt.date.fromisoformat(span) for span in spans if ISO_DATE.match(span)]
    except ValueError as e:
        raise InvalidInput(f"{e}; write dates as YYYY-MM-DD.") from e


def python_value(spans: list[str]) -> str:
    """What `python_program(spans)` prints, computed here: the simulator's python tool."""
    dates = iso_dates(spans)
    if len(dates) >= 2:
        return str((dates[1] - dates[0]).days)
    if dates:
        return dates[0].strftime("%A")
    if not spans:
        raise InvalidInput('python needs a quoted expression or date, e.g. "12 * 7" or "2024-02-29".')
    return str(integer_value(parsed_expression(spans[0]).body))


def python_program(spans: list[str]) -> str:
    """The program the runtime's python tool runs in the sandbox for these quoted spans (checked first)."""
    python_value(spans)  # refuses anything but integer arithmetic and ISO dates
    dates = iso_dates(spans)
    if len(dates) >= 2:
        return f"import datetime as d\nprint((d.date.fromisoformat({spans[1]!r}) - d.date.fromisoformat({spans[0]!r})).days)\n"
    if dates:
        return f"import datetime as d\nprint(d.date.fromisoformat({spans[0]!r}).strftime('%A'))\n"
    return f"print({ast.unparse(parsed_expression(spans[0]))})\n"
