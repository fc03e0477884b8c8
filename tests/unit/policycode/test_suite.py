"""Where tests are found, the report, the JUnit file, the gate a reload passes through."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import compile_policy_set, dialect_of
from regproxy.policycode.suite import (
    PolicyTestsFailed,
    configured_test_files,
    find_test_files,
    gate,
    junit_xml,
    render_report,
    run_suite,
)
from regproxy.reload import load_identities_file, read_policy_files
from tests.support.examples import EXAMPLES

FAILING = Path(__file__).parent / "fixtures" / "failing.yaml"
POLICY = compile_policy(compile_policy_set(read_policy_files(EXAMPLES / "policies"), DialectContext(), 1))
IDENTITIES = load_identities_file(EXAMPLES / "identities.yaml")


def test_tests_beside_the_documents_or_in_tests_are_found_and_never_read_as_policy(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("version: 1\nstatements: []\n")
    (tmp_path / "a.test.yaml").write_text("tests: []\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "b.yaml").write_text("tests: []\n")
    (tmp_path / ".hidden.test.yaml").write_text("tests: []\n")
    assert [p.name for p in find_test_files(tmp_path)] == ["a.test.yaml", "b.yaml"]
    assert dialect_of("a.test.yaml") is None and dialect_of("tests/b.yaml") is None
    assert sorted(read_policy_files(tmp_path)) == ["a.yaml"]


def test_an_explicit_directory_holds_test_files_only(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("tests: []\n")
    (tmp_path / "two.yml").write_text("tests: []\n")
    assert [p.name for p in configured_test_files(tmp_path, EXAMPLES / "policies")] == ["one.yaml", "two.yml"]
    assert configured_test_files(tmp_path / "one.yaml", None) == [tmp_path / "one.yaml"]


def test_the_report_reads_like_pytest() -> None:
    run = run_suite([FAILING], POLICY, IDENTITIES, base=FAILING.parent)
    lines = render_report(run)
    assert lines[0].startswith("FAILED failing.yaml:9: bob may move release tags (wrong on purpose): expected allow")
    assert lines[1].startswith("FAILED failing.yaml:15: ")
    assert "2 statement(s) no test exercises:" in lines
    assert lines[-1] == "2 failed, 1 passed"


def test_the_junit_report_has_one_case_per_test() -> None:
    run = run_suite([FAILING], POLICY, IDENTITIES, base=FAILING.parent)
    suite = ET.fromstring(junit_xml(run))
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("line") for c in failures] == ["9", "15"]


def test_the_gate_names_every_failure_and_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("tests:\n  - {expect: sometimes}\n")
    with pytest.raises(PolicyTestsFailed) as refused:
        gate([FAILING, broken], POLICY, IDENTITIES, tmp_path)
    failures = refused.value.failures
    assert failures[0].startswith("broken.yaml:2: `expect` must be one of")
    assert [f.split(":")[1] for f in failures[1:]] == ["9", "15"]
    gate(sorted((EXAMPLES / "policies" / "tests").glob("*.yaml")), POLICY, IDENTITIES, None)  # passes
