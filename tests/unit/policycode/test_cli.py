"""The argparse side of ``test``, ``diff`` and ``matrix``: options as documented, the right command."""

from __future__ import annotations

import pytest

from regproxy.cli import parser
from regproxy.policycode import commands


def test_each_command_reaches_its_handler_with_its_options() -> None:
    args = parser().parse_args(["test", "policies", "--junit", "out.xml", "--no-coverage"])
    assert (args.func, args.directory, args.junit, args.no_coverage) == (commands.cmd_test, "policies", "out.xml", True)
    args = parser().parse_args(["diff", "--audit", "-", "--against", "candidate"])
    assert (args.func, args.audit, args.against, args.limit, args.json) == (
        commands.cmd_diff,
        "-",
        "candidate",
        20,
        False,
    )
    args = parser().parse_args(["matrix", "--repository", "team-a/app", "--format", "csv"])
    assert (args.func, args.repository, args.format) == (commands.cmd_matrix, "team-a/app", "csv")


@pytest.mark.parametrize(
    "argv",
    [
        ["diff", "--against", "candidate"],
        ["diff", "--audit", "a.log"],
        ["matrix"],
        ["matrix", "--repository", "r", "--format", "xml"],
    ],
    ids=["diff-without-audit", "diff-without-candidate", "matrix-without-repository", "matrix-unknown-format"],
)
def test_a_missing_or_wrong_option_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err
