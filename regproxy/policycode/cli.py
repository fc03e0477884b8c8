"""The argparse side of ``regproxy test``, ``diff`` and ``matrix`` (the commands: :mod:`.commands`)."""

from __future__ import annotations

import argparse
from typing import Any

from regproxy.policycode import commands


def add_policy_code_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser("test", parents=[common], help="run the decision tests written next to the policies")
    t.add_argument("directory", nargs="?", help="the policies directory (default: config `policies`)")
    t.add_argument("--tests", help="a test file or a directory of them (default: beside the policies)")
    t.add_argument("--identities", help="the identities file that names principals and credentials")
    t.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    t.add_argument("--no-coverage", action="store_true", help="do not list the statements no test exercises")
    t.set_defaults(func=commands.cmd_test)

    d = sub.add_parser("diff", parents=[common], help="replay audit lines through a candidate policy set")
    d.add_argument("--audit", required=True, metavar="FILE", help="audit log (JSON lines; - for standard input)")
    d.add_argument("--against", required=True, metavar="DIR", help="the candidate policies directory")
    d.add_argument("--identities", help="resolve principals the audit line does not describe in full")
    d.add_argument("--json", action="store_true", help="one JSON document instead of text")
    d.add_argument("--limit", type=int, default=20, help="groups shown per direction in text (default 20)")
    d.set_defaults(func=commands.cmd_diff)

    m = sub.add_parser("matrix", parents=[common], help="who can do what on a repository")
    m.add_argument("directory", nargs="?", help="the policies directory (default: config `policies`)")
    m.add_argument("--repository", required=True, help="REPOSITORY[:TAG]")
    m.add_argument("--identities", help="the identities file whose principals and groups are listed")
    m.add_argument("--format", choices=["text", "json", "csv"], default="text")
    m.set_defaults(func=commands.cmd_matrix)
