"""examples/dialects/<cloud>/ passes `regproxy check` and decides as its comments say; `check`
warns about statements a cloud accepts but that match nothing; `credentials issue` takes a RAM
session policy."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from regproxy.cli import main
from regproxy.oci.actions import Action
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.policy.model import Outcome, RequestContext
from regproxy.reload import load_identities_file, read_policy_files
from regproxy.settings.files import load_config
from tests.support.tokens import write_ec_key

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "dialects"


@pytest.mark.parametrize("cloud", ["thalassa", "oci", "tencent", "alibaba"])
def test_the_example_passes_check(cloud: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(EXAMPLES / cloud / "regproxy.yaml")]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ok: ")
    assert "warning" not in captured.err


CASES = [
    # (cloud, login, action, repository, tag, outcome)
    ("thalassa", "user:alice", Action.DELETE_TAG, "team-b/app", "v1", Outcome.ALLOWED),  # organisation binding
    ("thalassa", "service-account:ci", Action.PUSH, "team-a/app", None, Outcome.ALLOWED),
    ("thalassa", "service-account:ci", Action.PUSH, "team-b/app", None, Outcome.DEFAULT_DENY),  # project A only
    ("oci", "user:oscar", Action.CREATE_REPOSITORY, "acme/new", None, Outcome.ALLOWED),
    ("oci", "user:omar", Action.CREATE_REPOSITORY, "acme-comp/new", None, Outcome.DEFAULT_DENY),
    ("oci", "user:admin", Action.DELETE_BLOB, "any/thing", None, Outcome.ALLOWED),
    ("tencent", "user:tina", Action.DELETE_TAG, "foo/app", "v1", Outcome.ALLOWED),  # ccr:DeleteTag not denied
    ("tencent", "user:tina", Action.DELETE_MANIFEST, "foo/app", None, Outcome.EXPLICIT_DENY),
    ("tencent", "user:tom", Action.PULL, "foo/app", "v1", Outcome.DEFAULT_DENY),
    ("alibaba", "user:root", Action.DELETE_BLOB, "any/thing", None, Outcome.ALLOWED),
    ("alibaba", "user:li", Action.PULL, "juzhong/app", "v1", Outcome.ALLOWED),
    ("alibaba", "user:wang", Action.PUSH, "juzhong/nginx", None, Outcome.ALLOWED),
]


@pytest.mark.parametrize(
    ("cloud", "login", "action", "repository", "tag", "outcome"),
    CASES,
    ids=[f"{c}-{login}-{a.value}-{r}" for c, login, a, r, _, _ in CASES],
)
def test_the_example_decides(
    cloud: str, login: str, action: Action, repository: str, tag: str | None, outcome: Outcome
) -> None:
    config = load_config(EXAMPLES / cloud / "regproxy.yaml", env={})
    assert config.policies is not None
    policy_set = compile_policy_set(read_policy_files(config.policies), config.dialects, 1)
    account = load_identities_file(config.identities).account(login)
    assert account is not None
    request = RequestContext(account.principal(), ipaddress.ip_address("10.0.0.1"), datetime.now(UTC))
    assert compile_policy(policy_set).evaluate(request, action, repository, tag).outcome is outcome


def test_check_warns_about_a_tag_qualified_pull_and_accepts_the_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tencent").mkdir()
    (tmp_path / "tencent" / "one-tag.json").write_text(
        '{"version": "2.0",\n "statement": [\n  {"action": "ccr:pull", "resource": "qcs::ccr:::repo/ns/name:v1",'
        ' "effect": "allow"}]}\n'
    )
    assert main(["check", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ok: ")
    assert "warning: tencent/one-tag.json:3: `ccr:pull` is checked against" in captured.err


def test_credentials_issue_carries_a_session_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_ec_key(tmp_path / "k.pem")
    (tmp_path / "ids.yaml").write_text("service_accounts:\n  - name: deployer\n")
    (tmp_path / "c.yaml").write_text(
        "identities: ids.yaml\ntokens:\n  signing_key: k.pem\nexternal_url: https://reg.example\n"
        "dialects:\n  alibaba: {region: cn-hangzhou, account: '1234'}\n"
    )
    document = (EXAMPLES / "alibaba" / "session-policy-pull-juzhong.json").read_text()
    (tmp_path / "session.json").write_text(document)
    args = ["credentials", "issue", "--config", str(tmp_path / "c.yaml"), "--principal", "service-account:deployer"]
    assert main([*args, "--session-policy", str(tmp_path / "session.json"), "--json"]) == 0
    issued = json.loads(capsys.readouterr().out)
    claims = jwt.decode(issued["password"], options={"verify_signature": False})
    assert claims["regproxy"]["session_policy"] == {
        "dialect": "alibaba",
        "document": document,
        "region": "cn-hangzhou",
        "account": "1234",
    }
    (tmp_path / "bad.json").write_text('{"Version": "1", "Statement": [{"Action": "cr:Pul", "Effect": "Allow"}]}')
    assert main([*args, "--session-policy", str(tmp_path / "bad.json")]) == 2
    assert "session policy" in capsys.readouterr().err
    assert main([*args, "--session-policy", str(tmp_path / "missing.json")]) == 2
