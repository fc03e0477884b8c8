"""``regproxy test``, ``diff`` and ``matrix``: options → the policy set, identities and files they
need → the pure parts → printed reports and an exit status. ``cli.py`` only wires argparse here.

Exit statuses: 0 as expected (tests pass, no decision flips), 1 a finding (a test fails, a
decision flips), 2 a usage or load error (a policy set that is refused, an unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regproxy.authorization import public_statements
from regproxy.authorization.matrix import access_matrix
from regproxy.authorization.replay import Replayer
from regproxy.config import Config
from regproxy.errors import ConfigError, RegproxyError
from regproxy.identity.identities import Identities
from regproxy.oci import grammar
from regproxy.policy.evaluate import CompiledPolicy, compile_policy
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policycode.diff import diff_lines, render_json, render_text
from regproxy.policycode.matrix import matrix_records, render_csv, render_matrix
from regproxy.policycode.suite import configured_test_files, find_test_files, junit_xml, render_report, run_suite
from regproxy.reload import load_identities_file, read_policy_files
from regproxy.settings.files import load_config


class Refused(Exception):
    """Printed already; exit with status 2."""


@dataclass(frozen=True, slots=True)
class Loaded:
    config: Config
    policy: CompiledPolicy
    identities: Identities | None


def config_of(args: argparse.Namespace, **overrides: Any) -> Config:
    path = getattr(args, "config", None)
    return load_config(Path(path) if path else None, overrides=overrides)


def load_policy(config: Config, directory: Path, generation: int = 1) -> CompiledPolicy:
    """The policy set in ``directory`` compiled as the server would (with config ``public``)."""
    try:
        files = read_policy_files(directory)
        policy_set = compile_policy_set(files, config.dialects, generation, public_statements(config.public))
    except PolicySetInvalid as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in `{directory}`: the set would be refused whole", file=sys.stderr)
        raise Refused from None
    except (RegproxyError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {directory}: {exc}", file=sys.stderr)
        raise Refused from None
    return compile_policy(policy_set)


def load_identities(config: Config) -> Identities | None:
    if config.identities is None:
        return None
    try:
        return load_identities_file(config.identities)
    except (RegproxyError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise Refused from None


def load(args: argparse.Namespace, directory: str | None) -> Loaded:
    config = config_of(args, policies=directory, identities=getattr(args, "identities", None))
    if config.policies is None:
        raise ConfigError("policies", "no policies directory: give DIR or --config")
    return Loaded(config, load_policy(config, config.policies), load_identities(config))


def cmd_test(args: argparse.Namespace) -> int:
    """Run the decision tests next to the policies; pytest-like report; 1 when any fails."""
    try:
        loaded = load(args, args.directory)
    except Refused:
        return 2
    assert loaded.config.policies is not None
    if args.tests:
        files = find_test_files(Path(args.tests), explicit=True)
    elif loaded.config.policy_tests is not None:
        files = configured_test_files(loaded.config.policy_tests, loaded.config.policies)
    else:
        files = find_test_files(loaded.config.policies)
    if not files:
        print(
            f"error: no test files (*.test.yaml or tests/*.yaml) in `{args.tests or loaded.config.policies}`",
            file=sys.stderr,
        )
        return 2
    run = run_suite(files, loaded.policy, loaded.identities)
    for line in render_report(run, coverage=not args.no_coverage):
        print(line)
    if args.junit:
        Path(args.junit).write_bytes(junit_xml(run))
    return 0 if run.ok else 1


def cmd_diff(args: argparse.Namespace) -> int:
    """Replay an audit log through a candidate set; 1 when any decision flips."""
    try:
        config = config_of(args, identities=args.identities)
        policy = load_policy(config, Path(args.against))
        identities = load_identities(config)
    except Refused:
        return 2
    replayer = Replayer(policy, identities)
    started = time.perf_counter()
    try:
        if args.audit == "-":
            report = diff_lines(sys.stdin.buffer, replayer)
        else:
            with open(args.audit, "rb") as f:
                report = diff_lines(f, replayer)
    except OSError as exc:
        print(f"error: cannot read `{args.audit}`: {exc.strerror}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(render_json(report, seconds), indent=2))
    else:
        for line in render_text(report, args.limit, seconds):
            print(line)
    return 1 if report.flips else 0


def cmd_matrix(args: argparse.Namespace) -> int:
    """Who can do what on one repository, as text, JSON or CSV."""
    try:
        loaded = load(args, args.directory)
    except Refused:
        return 2
    repository, _, tag = args.repository.partition(":")
    if not grammar.is_name(repository) or (tag and not grammar.is_tag(tag)):
        print(f"error: `{args.repository}` is not REPOSITORY[:TAG]", file=sys.stderr)
        return 2
    cells = access_matrix(loaded.policy, loaded.identities, repository, tag or None, datetime.now(UTC))
    if args.format == "json":
        print(json.dumps({"repository": repository, "tag": tag or None, "cells": matrix_records(cells)}, indent=2))
    elif args.format == "csv":
        sys.stdout.write(render_csv(cells))
    else:
        for line in render_matrix(cells, args.repository):
            print(line)
    return 0
