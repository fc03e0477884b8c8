"""Command line: ``serve``, ``check``, ``explain``, ``show``, ``hash-password``.

Only maps options to :class:`~regproxy.config.Config` and calls into the package; ``check`` and
``explain`` load and evaluate exactly as the server does (same loader, same evaluator).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from regproxy.authorization import public_statements
from regproxy.authorization.explain import (
    ExplainError,
    explain,
    parse_answer,
    principal_from_flags,
    render,
    request_from_action,
    request_from_path,
    tag_qualified_warnings,
)
from regproxy.config import Config
from regproxy.errors import ConfigError, RegproxyError
from regproxy.identity.passwords import hash_password
from regproxy.identity.session_policy import SessionPolicy
from regproxy.identity.sts import issue_credential
from regproxy.logs import setup_logging
from regproxy.oci.actions import Action
from regproxy.oci.capability import capability_warnings
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policy.model import Effect, PolicySet, RequestContext
from regproxy.policycode.cli import add_policy_code_commands
from regproxy.proxy.capabilities import probe_upstream_once
from regproxy.reload import load_identities_file, read_policy_files
from regproxy.server.tokens import MAX_STS_TTL, load_keyset
from regproxy.settings.files import load_config

T = TypeVar("T")


def _config(args: argparse.Namespace, **overrides: Any) -> Config:
    return load_config(Path(args.config) if args.config else None, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    config = _config(
        args,
        listen=args.listen,
        **{
            "upstream.url": args.upstream,
            "policies": args.policies,
            "identities": args.identities,
            "workers": args.workers,
            "admin.listen": args.admin_listen,
            "log_format": args.log_format,
        },
    )
    setup_logging(config)
    if config.policies is None and not args.allow_empty:
        print(
            "error: no policies (give --config FILE or --policies DIR): regproxy would refuse every request; "
            "--allow-empty starts it anyway",
            file=sys.stderr,
        )
        return 2
    from regproxy.server.run import run  # noqa: PLC0415 - aiohttp and uvloop load only for `serve`

    try:
        return run(config)
    except (RegproxyError, OSError) as exc:
        logging.getLogger("regproxy").error("cannot start: %s", exc)
        return 2


def _load_policy(args: argparse.Namespace, directory: str | None) -> tuple[Config, Any]:
    config = _config(args, policies=directory)
    if config.policies is None:
        raise ConfigError("policies", "no policies directory: give DIR or --config")
    files = read_policy_files(config.policies)
    policy_set = compile_policy_set(files, config.dialects, 1, public_statements(config.public))
    return config, policy_set


class CommandFailed(Exception):
    """Raised once the errors are printed: ``main`` exits with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _reported(load: Callable[..., T], *args: Any) -> T:
    """Run a loader; print a refused policy set error by error, or any other error, and fail."""
    try:
        return load(*args)
    except ConfigError:
        raise
    except PolicySetInvalid as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"{len(exc.errors)} error(s); the set would be refused whole", file=sys.stderr)
        raise CommandFailed(1) from None
    except (RegproxyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise CommandFailed(1) from None


def _load_or_report(args: argparse.Namespace, directory: str | None) -> tuple[Config, Any]:
    return _reported(_load_policy, args, directory)


def cmd_check(args: argparse.Namespace) -> int:
    """Every error of the policy set and of the identities file, in one run; then warnings."""
    failed = False
    policy_set = None
    try:
        config, policy_set = _load_or_report(args, args.directory)
    except CommandFailed:
        failed = True
        config = _config(args, policies=args.directory)
    if config.identities is not None:
        try:
            _reported(load_identities_file, config.identities)
        except CommandFailed:
            failed = True
    if failed or policy_set is None:
        return 1
    for warning in (*policy_set.warnings, *tag_qualified_warnings(policy_set)):
        print(f"warning: {warning}", file=sys.stderr)
    if args.probe_upstream:
        for warning in upstream_warnings(config, policy_set):
            print(f"warning: {warning}", file=sys.stderr)
    print(f"ok: {len(policy_set.statements)} statements from {len(policy_set.files)} files, {policy_set.content_hash}")
    return 0


def upstream_warnings(config: Config, policy_set: PolicySet) -> list[str]:
    """Ask the upstream once what it can do; warn of granted actions it cannot perform."""
    found = asyncio.run(probe_upstream_once(config.upstream))
    if not found.reachable:
        return [f"cannot probe the upstream {config.upstream.url}: {found.problem}"]
    granted = {a for s in policy_set.statements if s.effect is Effect.ALLOW and not s.shadow for a in s.actions}
    return capability_warnings(granted, found)


def cmd_explain(args: argparse.Namespace) -> int:
    """Decide one request exactly as the server does: the same flow, facts from flags."""
    config, policy_set = _load_or_report(args, args.directory)
    identities = _reported(load_identities_file, config.identities) if config.identities is not None else None
    try:
        if args.path is not None:
            if args.action is not None:
                raise ExplainError("give either --method/--path or --action/--repository")
            request = request_from_path(args.method or "GET", args.path)
        else:
            if args.action is None or args.repository is None:
                raise ExplainError("give --method/--path, or --action and --repository")
            try:
                action = Action(args.action)
            except ValueError:
                known = ", ".join(a.value for a in Action)
                raise ExplainError(f"unknown action `{args.action}` (known: {known})") from None
            repository, _, tag = args.repository.partition(":")
            request = request_from_action(action, repository, tag or None)
        principal = principal_from_flags(
            identities, args.principal, args.credential, args.scope or [], args.group or []
        )
        repository_exists = parse_answer(args.repository_exists)
        tag_exists = parse_answer(args.tag_exists)
        if args.action == Action.TAG_CREATE.value and args.tag_exists is None:
            tag_exists = False
        elif args.action == Action.TAG_OVERWRITE.value and args.tag_exists is None:
            tag_exists = True
        elif args.action == Action.CREATE_REPOSITORY.value and args.repository_exists is None:
            repository_exists = False
        source = ipaddress.ip_address(args.source) if args.source else None
    except (ExplainError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    context = RequestContext(principal, source, datetime.now(UTC))
    verdict = explain(request, context, compile_policy(policy_set), repository_exists, tag_exists)
    for line in render(verdict, request, principal, policy_set):
        print(line)
    return 0 if verdict.allowed else 3


def cmd_show(args: argparse.Namespace) -> int:
    """Print what the policy set compiled to: one line per statement."""
    _, policy_set = _load_or_report(args, args.directory)
    for s in policy_set.statements:
        if args.file and not str(s.location.file).startswith(args.file):
            continue
        record = {
            "id": s.id,
            "effect": s.effect.value,
            "dialect": s.dialect,
            "at": str(s.location),
            "principals": [str(p) for p in s.principals],
            "actions": sorted(a.value for a in s.actions),
            "resources": [str(r) for r in s.resources],
            "conditions": [c.describe() for c in s.conditions],
        }
        if s.shadow:
            record["shadow"] = True
        print(json.dumps(record) if args.json else _human(record))
    return 0


def _human(record: dict[str, Any]) -> str:
    cond = f" when {'; '.join(record['conditions'])}" if record["conditions"] else ""
    return (
        f"{record['id']} ({record['dialect']}, {record['at']}): {record['effect']} "
        f"{', '.join(record['principals'])} to {', '.join(record['actions'])} on "
        f"{', '.join(record['resources'])}{cond}"
    )


def cmd_credentials_issue(args: argparse.Namespace) -> int:
    """Mint a short-lived credential offline, signed with the token service's key."""
    config = _config(args)
    try:
        keys = load_keyset(config)
        identities = load_identities_file(config.identities)
    except (RegproxyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if keys is None or keys.signing is None:
        print("error: config `tokens.signing_key` is needed to sign credentials", file=sys.stderr)
        return 2
    if identities.account(args.principal) is None:
        print(
            f"error: no account `{args.principal}` in the identities file (use user:NAME or service-account:NAME)",
            file=sys.stderr,
        )
        return 2
    session_policy = None
    if args.session_policy:
        try:
            with open(args.session_policy, encoding="utf-8") as f:
                document = f.read()
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # STS: the credential allows the intersection of the principal's policies and this
        # RAM document; without --scope it is not narrowed further.
        session_policy = SessionPolicy(document, config.dialects.alibaba_region, config.dialects.alibaba_account)
    try:
        ttl = parse_duration(args.ttl)
        credential = issue_credential(
            args.principal,
            ttl,
            args.scope or (["*"] if session_policy else ["pull"]),
            args.repository or ["**"],
            keys.signing,
            time.time(),
            issuer=config.tokens.issuer or config.public_url,
            audience=config.service,
            max_ttl=MAX_STS_TTL,
            session_policy=session_policy,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    expires = datetime.fromtimestamp(time.time() + ttl, UTC).isoformat(timespec="seconds")
    if args.json:
        print(json.dumps({"username": credential.username, "password": credential.password, "expires_at": expires}))
    else:
        print(f"username: {credential.username}\npassword: {credential.password}\nexpires:  {expires}")
        print(f"revoke early by adding `{credential.jti}` to `revoked:` in the identities file", file=sys.stderr)
    return 0


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``1h``, ``1d`` → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    factor = units.get(text[-1:], 0)
    number = text[:-1] if factor else text
    if not number.isdigit():
        raise ValueError(f"`{text}` is not a duration like 90s, 15m, 1h")
    return int(number) * (factor or 1)


def cmd_hash_password(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("password: ")
    if not password:
        print("error: empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one statement per option, read top to bottom
    p = argparse.ArgumentParser(prog="regproxy", description="Authorizing reverse proxy for OCI registries")
    p.add_argument("--config", "-c", help="config file (YAML)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", default=argparse.SUPPRESS, help="config file (YAML)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", parents=[common], help="run the proxy")
    s.add_argument("--listen")
    s.add_argument("--upstream")
    s.add_argument("--policies")
    s.add_argument("--identities")
    s.add_argument("--workers", type=int)
    s.add_argument("--admin-listen")
    s.add_argument("--log-format", choices=["text", "json"])
    s.add_argument("--allow-empty", action="store_true", help="start without policies (everything is refused)")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("check", parents=[common], help="validate a policies directory (and the identities file)")
    c.add_argument("directory", nargs="?")
    c.add_argument(
        "--probe-upstream",
        action="store_true",
        help="ask the configured upstream what it supports; warn of granted actions it cannot do",
    )
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("explain", parents=[common], help="decide one request as the server would")
    e.add_argument("directory", nargs="?")
    e.add_argument("--principal", help="user:NAME, service-account:NAME, a login name, or anonymous")
    e.add_argument("--group", action="append", help="a group (a principal by hand: no identities file only)")
    e.add_argument("--credential", help="an access credential id: its account, with the credential's scope")
    e.add_argument(
        "--scope", action="append", help="the caller holds a token with this access (docker scope; repeatable)"
    )
    e.add_argument("--method", help="the request's method (with --path)")
    e.add_argument("--path", help="the request's path and query, e.g. /v2/team-a/app/manifests/v2")
    e.add_argument("--action", help="or: an action (pull, push, tag-create, ...)")
    e.add_argument("--repository", help="REPOSITORY[:TAG] (with --action)")
    e.add_argument("--repository-exists", choices=["yes", "no", "unknown"], help="does the repository exist")
    e.add_argument("--tag-exists", choices=["yes", "no", "unknown"], help="does the pushed tag exist")
    e.add_argument("--source", help="client address, for source conditions")
    e.set_defaults(func=cmd_explain)

    w = sub.add_parser("show", parents=[common], help="print what the policies compiled to")
    w.add_argument("directory", nargs="?")
    w.add_argument("--file", help="only statements from files starting with this path")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_show)

    cr = sub.add_parser("credentials", parents=[common], help="short-lived credentials")
    cr_sub = cr.add_subparsers(dest="credentials_command", required=True)
    ci = cr_sub.add_parser("issue", parents=[common], help="print a username/password that expires by itself")
    ci.add_argument("--principal", required=True, help="user:NAME or service-account:NAME from the identities file")
    ci.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h (at most 12h)")
    ci.add_argument(
        "--scope", action="append", default=None, help="pull, push, delete or a regproxy action; repeatable"
    )
    ci.add_argument("--repository", action="append", help="repository glob the credential may touch; repeatable")
    ci.add_argument(
        "--session-policy",
        metavar="FILE",
        help="an Alibaba RAM policy document, verbatim: the credential gets its principal's policies ∩ this one",
    )
    ci.add_argument("--json", action="store_true")
    ci.set_defaults(func=cmd_credentials_issue)

    add_policy_code_commands(sub, common)

    h = sub.add_parser("hash-password", parents=[common], help="hash a password or secret for the identities file")
    h.add_argument("--stdin", action="store_true", help="read the password from standard input")
    h.set_defaults(func=cmd_hash_password)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CommandFailed as failed:
        return failed.code
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
