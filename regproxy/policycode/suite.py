"""``regproxy test``: find the decision tests next to a policies directory, run them, report.

Where tests live (both ways may be mixed):

    policies/
      team-a.yaml
      team-a.test.yaml        a test file beside the document it tests (a ConfigMap holds no
                              sub-directory: this way fits one)
      tests/*.yaml            or a tests/ folder next to the documents

The policy loader reads neither as a policy. A tests path given explicitly (``--tests PATH``,
config ``policy_tests: PATH``) is a test file, or a directory whose every ``*.yaml`` is one.

The report reads like pytest's: one line per failure, ``FILE:LINE: name: expected ...; got ...``
with the statements that decided instead; then the statements no test exercised; and a JUnit
XML file for CI when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from regproxy.authorization.cases import Case, CaseError, CaseResult, parse_cases, run_cases, uncovered
from regproxy.errors import RegproxyError
from regproxy.identity.identities import Identities
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.load import TEST_SUFFIXES

TESTS_DIRECTORY = "tests"


class PolicyTestsFailed(RegproxyError):
    """A policy set whose tests fail (or do not parse): refused like a broken one."""

    def __init__(self, failures: Sequence[str]) -> None:
        super().__init__(f"{len(failures)} policy test(s) failed; first: {failures[0]}")
        self.failures = list(failures)


def find_test_files(path: Path, *, explicit: bool = False) -> list[Path]:
    """The test files for ``path``: a policies directory (``*.test.yaml`` and ``tests/*.yaml``),
    or, ``explicit``, a file or a directory of test files."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    if explicit and not any(path.glob("*.test.y*ml")) and not (path / TESTS_DIRECTORY).is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))
    found = [p for p in path.iterdir() if p.name.endswith(TEST_SUFFIXES) and not p.name.startswith(".")]
    tests = path / TESTS_DIRECTORY
    if tests.is_dir():
        found.extend(p for p in tests.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))
    return sorted(found)


def configured_test_files(tests: Path, policies: Path | None) -> list[Path]:
    """The files config ``policy_tests`` names: beside the policies, or a path of its own."""
    return find_test_files(tests, explicit=tests != policies)


def display_name(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (the server: the policies directory, as policy errors name
    their files), else to the working directory (the CLI), else whole."""
    for root in (base, Path.cwd()):
        if root is None:
            continue
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


@dataclass(frozen=True, slots=True)
class SuiteRun:
    results: list[CaseResult]
    errors: list[str]  # test files that do not parse: each a failure too
    uncovered: list[str]

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def failure_lines(self) -> list[str]:
        """One line per failure: ``FILE:LINE: name: why``."""
        return [*self.errors, *(f"{r.case.where}: {r.case.name}: {r.message}" for r in self.failed)]


def load_cases(files: Sequence[Path], base: Path | None = None) -> tuple[list[Case], list[str]]:
    cases: list[Case] = []
    errors: list[str] = []
    for path in files:
        name = display_name(path, base)
        try:
            cases.extend(parse_cases(path.read_text(encoding="utf-8"), name))
        except CaseError as exc:
            errors.append(str(exc))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{name}: cannot read: {exc}")
    return cases, errors


def run_suite(
    files: Sequence[Path],
    policy: CompiledPolicy,
    identities: Identities | None,
    now: datetime | None = None,
    base: Path | None = None,
) -> SuiteRun:
    cases, errors = load_cases(files, base)
    results = run_cases(cases, policy, identities, now)
    return SuiteRun(results, errors, uncovered(policy.policy_set, results))


def gate(files: Sequence[Path], policy: CompiledPolicy, identities: Identities | None, base: Path | None) -> None:
    """Raise :class:`PolicyTestsFailed` unless every test passes (blocking; for reloads). Files
    are named relative to ``base``."""
    run = run_suite(files, policy, identities, base=base)
    if not run.ok:
        raise PolicyTestsFailed(run.failure_lines())


def render_report(run: SuiteRun, *, coverage: bool = True) -> list[str]:
    lines = [f"FAILED {line}" for line in run.failure_lines()]
    if coverage and run.uncovered:
        lines.append(f"{len(run.uncovered)} statement(s) no test exercises:")
        lines.extend(f"  {sid}" for sid in run.uncovered)
    passed = len(run.results) - len(run.failed)
    summary = [f"{len(run.failed) + len(run.errors)} failed"] if not run.ok else []
    summary.append(f"{passed} passed")
    lines.append(", ".join(summary))
    return lines


def junit_xml(run: SuiteRun) -> bytes:
    """A JUnit XML report: one testcase per test, classname its file."""
    suite = ET.Element(
        "testsuite",
        name="regproxy policy tests",
        tests=str(len(run.results) + len(run.errors)),
        failures=str(len(run.failed)),
        errors=str(len(run.errors)),
    )
    for result in run.results:
        case = ET.SubElement(
            suite, "testcase", classname=result.case.file, name=result.case.name, file=result.case.file
        )
        case.set("line", str(result.case.line))
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.message)
            failure.text = f"{result.case.where}: {result.message}"
    for error in run.errors:
        case = ET.SubElement(suite, "testcase", classname=error.split(":", 1)[0], name="test file")
        ET.SubElement(case, "error", message=error).text = error
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data
