"""The subset of GJSON path syntax that KServe's InferenceGraph router evaluates in `condition` fields.

KServe's router (`cmd/router/main.go`) decides a condition with `gjson.GetBytes(input, condition).Exists()`:
a condition *matches when its path resolves to any value*, whatever the value is. `false`, `0`, `""`, `null`
and `[]` all match; only a path that resolves to nothing does not. Two consequences worth knowing:

- `predictions.#(expert=="actions")` matches when some record chose `actions` (first-match query: nothing
  found means nothing resolved).
- `predictions.#(expert=="actions")#` *always* matches on an array, because an all-matches query with no
  match resolves to `[]`, which exists. Use the first-match form in conditions.

Supported here, with tidwall/gjson's semantics (see its SYNTAX.md and `queryMatches`/`parseArray`):

- dotted keys and array indexes: `instances.0.expert`
- `#`: the length of an array as the last component; `#.rest` maps `rest` over the elements
- `#(lhs op value)`: the first element that matches; `#(...)#`: all of them, with `.rest` mapped over them
- operators `==` (or `=`), `!=`, `<`, `<=`, `>`, `>=`; `#(lhs)` alone tests that `lhs` exists
- `lhs` is a nested path, itself allowed to hold queries (`#(nets.#(=="fb"))`); empty `lhs` compares the
  element itself (`children.#(=="Sara")`)
- `value`: a JSON string, a number, `true` or `false`. The comparison follows the *element's* type, as in
  gjson: strings compare as strings, numbers as floats, booleans by gjson's fixed table; objects, arrays and
  null never satisfy an operator.

Refused by `parse` (raise `InvalidInput`): wildcards `*`/`?`, escapes `\\`, pipes `|`, modifiers `@...`,
multipaths `{...}`/`[...]`, static values `!...`, JSON-lines `..`, the `%`/`!%` pattern operators, `~`
truthiness values, the legacy `#[...]` brackets, and bare-word values (quote strings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiprime.errors import InvalidInput


class _Missing:
    """The type of `MISSING`."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What `Path.get` returns when the path resolves to nothing (distinct from JSON null, which exists)."""

_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">")
_FORBIDDEN_IN_KEY = set('*?\\|@!{}[]"()=<>%,~ \t\n')
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_SUPPORTED = (
    "supported: dotted keys and indexes (instances.0.expert), '#', '#.key', '#(lhs op value)', "
    "'#(...)#', with op one of == != < <= > >= and value a quoted string, a number, true or false"
)


@dataclass(frozen=True)
class Key:
    """An object key, or an array index when it is all digits."""

    name: str  # the key as written


@dataclass(frozen=True)
class Count:
    """`#`: an array's length when last; with components after it, maps them over the elements."""


@dataclass(frozen=True)
class Query:
    """`#(lhs op value)`, or `#(...)#` when `all` is set."""

    lhs: Path  # path evaluated on each element; empty compares the element itself
    op: str  # "" (existence), "=", "!=", "<", "<=", ">", ">="
    value: str  # the right-hand side as gjson compares it: a string's text, or a number/bool literal
    all: bool  # True for `#(...)#` (every match), False for `#(...)` (the first match)


@dataclass(frozen=True)
class Path:
    """A parsed GJSON path; evaluate it with `get` or `exists`."""

    source: str  # the expression as written
    components: tuple[Key | Count | Query, ...]  # evaluated left to right

    def get(self, document: Any) -> Any:
        """The value this path resolves to in a decoded JSON document, or `MISSING`."""
        if not isinstance(document, dict | list):
            return MISSING  # gjson only descends into an object or an array at the top
        return _resolve(document, self.components)

    def exists(self, document: Any) -> bool:
        """Whether the path resolves to a value: the rule KServe's router applies to a `condition`."""
        return self.get(document) is not MISSING


def parse(expression: str) -> Path:
    """Parse a GJSON path of the supported subset.

    Args:
        expression: the path, e.g. `predictions.#(expert=="actions")`.

    Returns:
        The parsed path.

    Raises:
        InvalidInput: the expression is empty, malformed, or uses syntax outside the subset.
    """
    if not expression or not expression.strip():
        raise InvalidInput("Empty GJSON path; write a path such as 'predictions.0.expert'.")
    try:
        return Path(expression, tuple(_parse_components(expression)))
    except _Unsupported as e:
        raise InvalidInput(f"GJSON path {expression!r}: {e}; {_SUPPORTED}.") from e


def get(document: Any, expression: str) -> Any:
    """The value `expression` resolves to in `document`, or `MISSING`. Parses on every call."""
    return parse(expression).get(document)


def exists(document: Any, expression: str) -> bool:
    """Whether `expression` resolves in `document` (KServe's condition rule). Parses on every call."""
    return parse(expression).exists(document)


class _Unsupported(Exception):
    """Internal: why an expression falls outside the subset (wrapped into InvalidInput by `parse`)."""


def _parse_components(text: str) -> list[Key | Count | Query]:
    components: list[Key | Count | Query] = []
    i = 0
    while True:
        component, i = _parse_component(text, i)
        components.append(component)
        if i == len(text):
            return components
        if text[i] != ".":
            raise _Unsupported(f"unexpected {text[i]!r} at position {i}")
        i += 1
        if i == len(text):
            raise _Unsupported("the path ends with '.'")


def _parse_component(text: str, i: int) -> tuple[Key | Count | Query, int]:
    if text.startswith("#(", i):
        return _parse_query(text, i)
    if text.startswith("#[", i):
        raise _Unsupported("the legacy '#[...]' query form; write '#(...)'")
    if text.startswith("#", i) and (i + 1 == len(text) or text[i + 1] == "."):
        return Count(), i + 1
    end = i
    while end < len(text) and text[end] != ".":
        end += 1
    key = text[i:end]
    if not key:
        raise _Unsupported(f"an empty key at position {i}")
    bad = sorted(set(key) & (_FORBIDDEN_IN_KEY | {"#"}))
    if bad:
        raise _Unsupported(f"key {key!r} at position {i} holds {''.join(bad)!r}")
    return Key(key), end


def _parse_query(text: str, start: int) -> tuple[Query, int]:
    close = _matching_paren(text, start + 1)
    inner = text[start + 2 : close]
    end = close + 1
    every = end < len(text) and text[end] == "#"
    if every:
        end += 1
    lhs, op, value = _split_condition(inner)
    lhs_path = Path(lhs, tuple(_parse_components(lhs))) if lhs else Path("", ())
    return Query(lhs_path, op, _literal(value) if op else "", every), end


def _matching_paren(text: str, open_at: int) -> int:
    depth, i = 0, open_at
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _string_end(text, i)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise _Unsupported(f"unbalanced '(' at position {open_at}")


def _string_end(text: str, quote_at: int) -> int:
    i = quote_at + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    raise _Unsupported(f"unterminated string at position {quote_at}")


def _split_condition(inner: str) -> tuple[str, str, str]:
    """Split `lhs op value` at the first operator character outside nested parentheses, as gjson does."""
    depth, i = 0, 0
    while i < len(inner):
        char = inner[i]
        if char == '"':
            if depth == 0:
                raise _Unsupported("a string on the left of a query; put the path on the left")
            i = _string_end(inner, i)
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and char in "!=<>%":
            return _split_at_operator(inner, i)
        i += 1
    if not inner.strip():
        raise _Unsupported("an empty query '#()'")
    return inner.strip(), "", ""


def _split_at_operator(inner: str, at: int) -> tuple[str, str, str]:
    rest = inner[at:]
    op = next((candidate for candidate in _OPERATORS if rest.startswith(candidate)), None)
    if op is None:
        raise _Unsupported(f"operator {rest[:2]!r} (pattern and other operators are not supported)")
    return inner[:at].strip(), "=" if op == "==" else op, rest[len(op) :].strip()


def _literal(value: str) -> str:
    if value.startswith('"'):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as e:
            raise _Unsupported(f"malformed string literal {value}") from e
        if not isinstance(decoded, str):
            raise _Unsupported(f"malformed string literal {value}")
        return decoded
    if value in ("true", "false") or _NUMBER.fullmatch(value):
        return value
    raise _Unsupported(f'value {value!r}; quote strings, e.g. "actions"')


def _resolve(value: Any, components: Sequence[Key | Count | Query]) -> Any:
    if not components:
        return value
    head, rest = components[0], components[1:]
    if isinstance(head, Key):
        return _resolve_key(value, head.name, rest)
    if not isinstance(value, list):
        # gjson reads '#' or '#(...)' on an object as a literal key, which JSON documents never hold.
        return _resolve_key(value, "#", rest) if isinstance(head, Count) else MISSING
    if isinstance(head, Count):
        return len(value) if not rest else _map(value, rest)
    return _resolve_query(value, head, rest)


def _resolve_key(value: Any, key: str, rest: Sequence[Key | Count | Query]) -> Any:
    if isinstance(value, dict):
        return _resolve(value[key], rest) if key in value else MISSING
    if isinstance(value, list) and key.isdigit() and key.isascii():
        index = int(key)
        return _resolve(value[index], rest) if index < len(value) else MISSING
    return MISSING


def _map(elements: list[Any], rest: Sequence[Key | Count | Query]) -> list[Any]:
    results = (_resolve(element, rest) for element in elements)
    return [result for result in results if result is not MISSING]


def _resolve_query(elements: list[Any], query: Query, rest: Sequence[Key | Count | Query]) -> Any:
    matches = (element for element in elements if _matches(element, query))
    if query.all:
        return _map(list(matches), rest)
    first = next(matches, MISSING)
    return MISSING if first is MISSING else _resolve(first, rest)


def _matches(element: Any, query: Query) -> bool:
    if isinstance(element, dict | list):
        subject = _resolve(element, query.lhs.components) if query.lhs.components else MISSING
    else:
        subject = MISSING if query.lhs.components else element
    if subject is MISSING:
        return False
    return True if not query.op else _compare(subject, query.op, query.value)


def _compare(subject: Any, op: str, value: str) -> bool:
    if isinstance(subject, bool):
        return _compare_bool(subject, op, value)
    if isinstance(subject, str):
        return _ORDERINGS[op](subject, value)
    if isinstance(subject, int | float):
        return _ORDERINGS[op](float(subject), _as_float(value))
    return False  # null, objects and arrays never satisfy an operator in gjson


def _compare_bool(subject: bool, op: str, value: str) -> bool:
    """gjson's table for boolean elements (`queryMatches`, cases True and False)."""
    if subject:
        table = {"=": value == "true", "!=": value != "true", ">": value == "false", ">=": True}
    else:
        table = {"=": value == "false", "!=": value != "false", "<": value == "true", "<=": True}
    return table.get(op, False)


def _as_float(value: str) -> float:
    """Go's `strconv.ParseFloat` result as gjson uses it: 0 when the text is not a number."""
    try:
        return float(value)
    except ValueError:
        return 0.0


_ORDERINGS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
