"""regproxy test, diff and matrix, as a user runs them, on the example policies."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import orjson
import pytest

from regproxy.cli import main
from tests.support.examples import EXAMPLES

POLICIES = str(EXAMPLES / "policies")
IDENTITIES = str(EXAMPLES / "identities.yaml")
FAILING = str(Path(__file__).parent / "fixtures" / "failing.yaml")


def test_the_example_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", POLICIES, "--identities", IDENTITIES]) == 0
    assert capsys.readouterr().out.splitlines() == ["13 passed"]


def test_a_failing_test_file_fails_the_run_with_file_line_and_a_junit_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    code = main(["test", POLICIES, "--identities", IDENTITIES, "--tests", FAILING, "--junit", str(junit)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    failed = [line for line in out if line.startswith("FAILED ")]
    assert len(failed) == 2
    assert failed[0].endswith(
        "failing.yaml:9: bob may move release tags (wrong on purpose): expected allow; "
        "got deny (default-deny) by no statement"
    )
    assert "by team-a.yaml#release-tags-are-immutable" in failed[1]
    assert out[-1] == "2 failed, 1 passed"
    assert b'failures="2"' in junit.read_bytes()


def test_no_tests_and_a_broken_set_are_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "policies" / "admins.yaml", tmp_path / "p.yaml")
    assert main(["test", str(tmp_path)]) == 2
    assert "no test files" in capsys.readouterr().err
    (tmp_path / "p.yaml").write_text("statements:\n  - {id: a, effect: maybe}\n")
    assert main(["test", str(tmp_path), "--tests", FAILING]) == 2
    assert "the set would be refused whole" in capsys.readouterr().err


def audit_file(tmp_path: Path) -> Path:
    lines = []
    for n, (principal, groups, path, decision) in enumerate(
        [
            ("user:bob", ["team-a-readers"], "/v2/team-a/app/tags/list", "allowed"),
            ("user:bob", ["team-a-readers"], "/v2/team-a/app/manifests/v1", "allowed"),
            ("user:alice", ["team-a-devs"], "/v2/team-a/app/tags/list", "allowed"),
        ]
    ):
        record = {"time": 1.7e9 + n, "method": "GET", "path": path, "principal": principal}
        record |= {"principal_kind": "user", "groups": groups, "decision": decision}
        record |= {"action": "list" if path.endswith("list") else "pull", "repository": "team-a/app"}
        lines.append(orjson.dumps(record))
    audit = tmp_path / "audit.log"
    audit.write_bytes(b"\n".join(lines) + b"\n")
    return audit


def candidate(tmp_path: Path) -> Path:
    directory = tmp_path / "candidate"
    shutil.copytree(POLICIES, directory)
    team = (directory / "team-a.yaml").read_text().replace("[pull, list, catalog]\n", "[pull, catalog]\n")
    (directory / "team-a.yaml").write_text(team)
    return directory


def test_diff_reports_each_flip_and_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["diff", "--audit", str(audit_file(tmp_path)), "--against", str(candidate(tmp_path))]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "allow → deny: 1 request(s) in 1 group(s)"
    assert out[1].startswith("  user:bob list team-a/app: 1 request(s); now deny (default-deny) by no statement")
    assert out[-1].startswith("3 line(s) read, 3 replayed in ")


def test_diff_against_the_set_in_force_is_quiet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["diff", "--audit", str(audit_file(tmp_path)), "--against", POLICIES, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["replayed"], report["flipped"], report["flips"]) == (3, 0, [])


def test_matrix_in_three_formats(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["matrix", POLICIES, "--identities", IDENTITIES, "--repository", "team-a/app"]
    assert main(base) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "who can do what on team-a/app"
    assert text[2].split()[:3] == ["pull", "list", "catalog"]
    bob = next(line for line in text if line.startswith("user:bob "))
    assert bob.split()[1:5] == ["allow", "allow", "allow", "-"]
    assert main([*base, "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)["cells"]
    assert {
        "subject": "user:bob",
        "kind": "user",
        "action": "list",
        "decision": "allow",
        "outcome": "allowed",
        "statements": ["team-a.yaml#readers-pull"],
    } in cells
    assert main([*base, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(cells)
    assert main(["matrix", POLICIES, "--repository", "Not/A/Name"]) == 2
