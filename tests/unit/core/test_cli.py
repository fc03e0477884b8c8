"""The CLI decides exactly as the server does: check, explain, show, credentials, hash-password."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jwt
import pytest

from regproxy.cli import main, parse_duration
from regproxy.identity.passwords import verify_password
from tests.support.keys import write_pkcs8

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_check_accepts_the_example_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLES / "policies")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_check_reports_every_error_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text(
        "statements:\n  - {id: x, effect: allow, principals: [user:a], actions: [pul], resources: [a]}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "statements:\n  - {id: y, effect: perhaps, principals: [user:a], actions: [pull], resources: [a]}\n"
    )
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "a.yaml:2:" in err and "b.yaml:2:" in err and "2 error(s)" in err


def test_check_reports_every_error_of_every_dialect_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.policy.test_load import FILES  # noqa: PLC0415 - the same files, several errors each

    for name, text, _ in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    expected = [f"{name}:{line}:" for name, _, lines in FILES for line in lines]
    assert all(where in err for where in expected), err
    assert f"{len(expected)} error(s)" in err


@pytest.mark.parametrize(
    ("principal", "action", "repository", "code", "first_line"),
    [
        pytest.param("alice", "push", "team-a/app", 0, "ALLOW (allowed) for user:alice", id="allowed"),
        pytest.param(
            "alice", "tag-overwrite", "team-a/app:v1", 3, "DENY (explicit-deny) for user:alice", id="explicit-deny"
        ),
        pytest.param("bob", "push", "team-a/app", 3, "DENY (default-deny) for user:bob", id="default-deny"),
        pytest.param("anonymous", "pull", "library/alpine", 0, "ALLOW (allowed) for anonymous", id="public"),
    ],
)
def test_explain_names_the_decision_and_its_statements(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    principal: str,
    action: str,
    repository: str,
    code: int,
    first_line: str,
) -> None:
    # the example config without its token key (which `make run` creates)
    config = tmp_path / "regproxy.yaml"
    config.write_text(
        f"identities: {EXAMPLES / 'identities.yaml'}\npolicies: {EXAMPLES / 'policies'}\npublic: ['library/**']\n"
    )
    assert (
        main(
            [
                "explain",
                "--config",
                str(config),
                "--principal",
                principal,
                "--action",
                action,
                "--repository",
                repository,
            ]
        )
        == code
    )
    out = capsys.readouterr().out
    assert out.startswith(first_line)


def test_explain_with_a_policies_directory_only(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "explain",
            str(EXAMPLES / "policies"),
            "--principal",
            "user:carol",
            "--group",
            "team-a-readers",
            "--action",
            "pull",
            "--repository",
            "team-a/app",
        ]
    )
    assert code == 0
    assert "team-a.yaml#readers-pull" in capsys.readouterr().out


def test_show_prints_compiled_statements_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(EXAMPLES / "policies"), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ids = {r["id"] for r in records}
    assert "team-a.yaml#release-tags-are-immutable" in ids
    immutable = next(r for r in records if r["id"] == "team-a.yaml#release-tags-are-immutable")
    assert immutable["effect"] == "deny" and immutable["resources"] == ["team-a/**:v*"]


def test_hash_password_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    assert main(["hash-password", "--stdin"]) == 0
    assert verify_password(capsys.readouterr().out.strip(), "hunter2")


def test_credentials_issue_prints_a_signed_short_lived_credential(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pkcs8(tmp_path / "k.pem")
    (tmp_path / "ids.yaml").write_text("service_accounts:\n  - name: ci\n")
    (tmp_path / "c.yaml").write_text(
        "identities: ids.yaml\ntokens:\n  signing_key: k.pem\nexternal_url: https://reg.example\n"
    )
    assert (
        main(
            [
                "credentials",
                "issue",
                "--config",
                str(tmp_path / "c.yaml"),
                "--principal",
                "service-account:ci",
                "--ttl",
                "15m",
                "--scope",
                "pull",
                "--repository",
                "team-a/*",
                "--json",
            ]
        )
        == 0
    )
    issued = json.loads(capsys.readouterr().out)
    claims = jwt.decode(issued["password"], options={"verify_signature": False})
    assert issued["username"] == f"sts-{claims['jti']}"
    assert claims["sub"] == "service-account:ci" and claims["exp"] - claims["iat"] == 900
    assert main(["credentials", "issue", "--config", str(tmp_path / "c.yaml"), "--principal", "user:nobody"]) == 2


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_config_is_a_message_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("workers: none\n")
    assert main(["check", "--config", str(tmp_path / "c.yaml")]) == 2
    assert "config `workers`" in capsys.readouterr().err
