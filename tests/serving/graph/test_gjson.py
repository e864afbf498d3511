"""The GJSON subset: values as tidwall/gjson resolves them, and KServe's existence rule for conditions."""

from __future__ import annotations

import re

import pytest

from aiprime.errors import InvalidInput
from aiprime.serving.graph import gjson
from aiprime.serving.graph.gjson import MISSING

# The example document of gjson's SYNTAX.md.
DOC = {
    "name": {"first": "Tom", "last": "Anderson"},
    "age": 37,
    "children": ["Sara", "Alex", "Jack"],
    "flags": [True, False],
    "friends": [
        {"first": "Dale", "last": "Murphy", "age": 44, "nets": ["ig", "fb", "tw"]},
        {"first": "Roger", "last": "Craig", "age": 68, "nets": ["fb", "tw"]},
        {"first": "Jane", "last": "Murphy", "age": 47, "nets": ["ig", "tw"]},
    ],
    "nothing": None,
    "empty": [],
}

GATE = {
    "predictions": [
        {"instances": ["a dog runs"], "expert": "actions", "experts": ["actions", "qualities"],
         "probabilities": [0.8, 0.15]}
    ]
}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name.last", "Anderson"),
        ("age", 37),
        ("children", ["Sara", "Alex", "Jack"]),
        ("children.1", "Alex"),
        ("children.#", 3),
        ("friends.1.first", "Roger"),
        ("friends.#.age", [44, 68, 47]),
        ("friends.#.nets.#", [3, 2, 2]),
        ('friends.#(last=="Murphy").first', "Dale"),
        ('friends.#(last="Murphy").first', "Dale"),
        ('friends.#(last=="Murphy")#.first', ["Dale", "Jane"]),
        ("friends.#(age>45)#.last", ["Craig", "Murphy"]),
        ("friends.#(age>=47)#.first", ["Roger", "Jane"]),
        ("friends.#(age<45).first", "Dale"),
        ("friends.#(age<=44)#.first", ["Dale"]),
        ('friends.#(last!="Murphy").first', "Roger"),
        ('friends.#(first<"E").first', "Dale"),
        ('friends.#(age=="44").first', "Dale"),  # a quoted number still compares as a number
        ("friends.#(age==44.0).first", "Dale"),
        ('friends.#(nets.#(=="fb"))#.first', ["Dale", "Roger"]),
        ("friends.#(nets.#>2).first", "Dale"),  # the outer query compares 'nets.#' (a count) with 2
        ("friends.#(first)#.first", ["Dale", "Roger", "Jane"]),  # existence query
        ('children.#(=="Alex")', "Alex"),
        ('children.#(!="Sara")#', ["Alex", "Jack"]),
        ("flags.#(==true)", True),
        ("flags.#(==false)", False),
        ("flags.#(>false)#", [True]),
        ("flags.#(<=true)#", [False]),
        ('friends.#(last=="Nobody")#', []),
        ('friends.#(last=="Nobody")#.first', []),
        ('friends.#(last=="Murphy")#.0', []),  # '.0' maps over the matches, as in gjson
        ("nothing", None),
        ("empty.#", 0),
        ("name.0", MISSING),
        ("children.3", MISSING),
        ("children.x", MISSING),
        ("name.#", MISSING),
        ("age.first", MISSING),
        ('friends.#(last=="Nobody").first', MISSING),
        ('friends.#(nothing=="x")', MISSING),
        ('name.#(first=="Tom")', MISSING),  # a query on an object resolves to nothing
        ('predictions.#(expert=="actions").experts.1', MISSING),  # not in DOC
    ],
)
def test_get_matches_gjson(path: str, expected: object) -> None:
    assert gjson.get(DOC, path) == expected


@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        ('predictions.#(expert=="actions")', True),
        ('predictions.#(expert=="living")', False),
        ('predictions.#(experts.0=="actions")', True),
        ('predictions.#(experts.1=="qualities")', True),
        ('predictions.#(experts.1=="actions")', False),
        ("predictions.#(probabilities.0>0.5)", True),
        ("predictions.#(probabilities.1>0.5)", False),
        ("predictions.0.expert", True),
        ("predictions.#", True),  # a default branch: resolves whenever predictions is an array
        ('predictions.#(expert=="living")#', True),  # all-matches of nothing is [], which exists
        ("predictions.0.missing", False),
        ("error", False),
    ],
)
def test_condition_truthiness_is_existence(condition: str, matches: bool) -> None:
    assert gjson.exists(GATE, condition) is matches


@pytest.mark.parametrize("value", [False, 0, "", None, [], {}])
def test_falsy_values_still_match_a_condition(value: object) -> None:
    assert gjson.exists({"flag": value}, "flag")


@pytest.mark.parametrize("document", ["text", 3, None, True])
def test_a_document_that_is_not_an_object_or_array_matches_nothing(document: object) -> None:
    assert not gjson.exists(document, "a")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "Empty GJSON path"),
        ("a.", "ends with '.'"),
        ("a..b", "empty key"),
        ("child*.2", "holds '*'"),
        ("c?ildren", "holds '?'"),
        ("fav\\.movie", "holds '\\\\'"),
        ("friends|0", "holds '|'"),
        ("children.@reverse", "holds '@'"),
        ("{name.first,age}", "holds '{'"),
        ("!true", "holds '!'"),
        ('friends.#(first%"D*")', "pattern"),
        ('friends.#(first!%"D*")', "pattern"),
        ("friends.#(last==Murphy)", "quote strings"),
        ("friends.#(last==~true)", "quote strings"),
        ("friends.#(last==null)", "quote strings"),
        ('friends.#[last=="Murphy"]', "legacy"),
        ('friends.#(last=="Murphy"', "unbalanced"),
        ('friends.#(last=="Murphy)', "unterminated"),
        ("friends.#()", "empty query"),
        ('friends.#("x"==last)', "string on the left"),
        ('friends.#(last=="Murphy")x', "unexpected 'x'"),
        ("friends.#x", "holds '#'"),
    ],
)
def test_parse_refuses_syntax_outside_the_subset(expression: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(reason)):
        gjson.parse(expression)


def test_parse_error_names_the_expression_and_the_subset() -> None:
    with pytest.raises(InvalidInput) as error:
        gjson.parse("a.*")
    assert "'a.*'" in str(error.value)
    assert "supported:" in str(error.value)


def test_parsed_path_is_reusable_and_frozen() -> None:
    path = gjson.parse('predictions.#(expert=="actions").probabilities.0')
    assert path.get(GATE) == 0.8
    assert path.get({"predictions": []}) is MISSING
    with pytest.raises(AttributeError):
        path.source = "x"  # type: ignore[misc]


def test_escaped_quotes_in_string_literals() -> None:
    assert gjson.get({"a": [{"q": 'say "hi"'}]}, r'a.#(q=="say \"hi\"").q') == 'say "hi"'
