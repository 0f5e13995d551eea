"""`conductor VERB` builds that verb's parser alone (the full one costs `status` 15 ms): the
verbs listed are every verb there is, and a verb's parser alone parses as the full one does."""

from __future__ import annotations

import argparse

import pytest

from conductor.cli import VERBS, _parser


def verbs_of(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_the_verbs_listed_are_every_verb_the_parser_has():
    assert verbs_of(_parser()) == VERBS


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--json", "-c", "x.toml"],
        ["report", "--runs-dir", "r", "-o", "a.png"],
        ["demo", "--panes", "3", "--headless"],
        ["evolve", "w", "--apply", "p1", "--apply", "p2"],
        ["exp", "--help"],
    ],
)
def test_one_verbs_parser_parses_as_the_full_one(argv, capsys):
    def parsed(parser: argparse.ArgumentParser):
        try:
            return vars(parser.parse_args(argv))
        except SystemExit as exc:
            return ("exit", exc.code, capsys.readouterr().out)

    assert verbs_of(_parser(argv[0])) == [argv[0]]
    assert parsed(_parser(argv[0])) == parsed(_parser())
