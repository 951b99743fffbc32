"""The native reader of /v1/aggregates' operations strings against
upstream's parser (pyparsing's ``OneOrMore(nestedExpr())``, first group):
the same lists wherever the native reader reads a string, and a string it
leaves alone is one with a quote or one upstream's parser refuses."""
from __future__ import annotations

import pyparsing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnocchi_rs import _native


def _upstream(text):
    return pyparsing.OneOrMore(pyparsing.nestedExpr()).parseString(
        text).asList()[0]


def _check(text):
    try:
        ours = _native.parse_operations(text)
    except _native.RequestDeclined:
        if "'" in text or '"' in text:
            return None
        with pytest.raises(pyparsing.ParseException):
            _upstream(text)
        return None
    assert ours == _upstream(text), text
    return ours


@pytest.mark.parametrize("text", [
    "(aggregate mean (metric (a mean) (b max)))",
    "  (metric a mean) trailing (x",
    "\t\r\n(a\t(b\r c)\nd)", "(a(b)c)", "()", "(())", "((a) (b))",
    "(a\u00a0b \u2003 c\x0bd)", "(é ü (ß))", "(a b))", "(a (b)",
    "x (a)", "", "   ", ")(", "(((", "(\"a b\" c)", "(it's)",
    "(rolling mean 3 (metric 1 mean))", "(+ -2.5e3 (metric a b))",
])
def test_known_strings(text):
    _check(text)


def test_words_and_nesting_read_natively():
    assert _check("(a (b (c d)) e)") == ["a", ["b", ["c", "d"]], "e"]
    assert _check("(x\u00a0y)") == ["x\u00a0y"]


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="()  \t\n\rab1-.\u00a0\x0b\u00e9'\"", max_size=40))
def test_generated_strings(text):
    _check(text)


def test_checked_trees_are_kept_apart_from_their_answers():
    """The operations schema's answers, kept per tree: the same answer as
    upstream's schema, a copy each time, refusals raised every time."""
    import voluptuous
    from gnocchi.rest.aggregates import api as aggregates_api

    from gnocchi_rs.rest import resource_search

    upstream = voluptuous.Schema(voluptuous.Any(
        *aggregates_api.OperationsSchemaBase), required=True)
    tree = ["aggregate", "mean", ["metric", ["m1", "mean"], ["m2", "max"]]]
    first = resource_search._operations(tree)
    assert first == upstream(tree)
    first[2].append("changed")
    assert resource_search._operations(tree) == upstream(tree)
    # 1 and 1.0, True and 1 are different trees.
    rolling = ["rolling", "mean", 2, ["metric", "m1", "mean"]]
    assert resource_search._operations(rolling) == upstream(rolling)
    for bad in (["aggregate", "nope", ["metric", "m1", "mean"]],
                ["rolling", "mean", 0, ["metric", "m1", "mean"]]):
        for _ in range(2):
            with pytest.raises(voluptuous.Invalid) as ours:
                resource_search._operations(bad)
            with pytest.raises(voluptuous.Invalid) as theirs:
                upstream(bad)
            assert str(ours.value) == str(theirs.value)
