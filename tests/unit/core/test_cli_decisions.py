"""``explain`` takes the request as the server sees it and decides with the server's flow;
``check`` warns for tag-qualified grants; ``serve`` refuses to start with no policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "regproxy.yaml"
    path.write_text(
        f"identities: {EXAMPLES / 'identities.yaml'}\npolicies: {EXAMPLES / 'policies'}\npublic: ['library/**']\n"
    )
    return path


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        pytest.param(
            ["--principal", "alice", "--method", "PUT", "--path", "/v2/team-a/app/manifests/v2"],
            3,
            ["DENY (explicit-deny)", "fact: tag team-a/app:v2 exists: unknown", "answer: 403 DENIED"],
            id="an-unknown-tag-takes-the-stricter-branch",
        ),
        pytest.param(
            [
                "--principal",
                "alice",
                "--method",
                "PUT",
                "--path",
                "/v2/team-a/app/manifests/v2",
                "--repository-exists",
                "yes",
                "--tag-exists",
                "no",
            ],
            0,
            ["ALLOW (allowed)", "tag-create on team-a/app:v2: allowed (deciding)", "team-a.yaml#devs-read-write"],
            id="path-with-facts",
        ),
        pytest.param(
            [
                "--principal",
                "alice",
                "--method",
                "PUT",
                "--path",
                "/v2/team-a/app/manifests/v1",
                "--repository-exists",
                "yes",
                "--tag-exists",
                "yes",
            ],
            3,
            ["DENY (explicit-deny)", "team-a.yaml#release-tags-are-immutable"],
            id="tag-overwrite-of-a-release",
        ),
        pytest.param(
            ["--credential", "rpc-ci-pull", "--action", "push", "--repository", "team-a/app"],
            3,
            ["DENY (scope-deny) for service-account:ci", "answer: 403 DENIED"],
            id="credential-scope-narrows",
        ),
        pytest.param(
            [
                "--principal",
                "alice",
                "--scope",
                "repository:team-a/app:pull",
                "--action",
                "push",
                "--repository",
                "team-a/app",
            ],
            3,
            ["DENY (insufficient-scope)", "insufficient_scope", "scope: repository:team-a/app:pull,push"],
            id="token-scope-lacks-push",
        ),
        pytest.param(
            [
                "--principal",
                "alice",
                "--method",
                "POST",
                "--path",
                f"/v2/team-a/app/blobs/uploads/?mount=sha256:{'a' * 64}&from=team-b/x",
                "--repository-exists",
                "yes",
            ],
            0,
            ["ALLOW (allowed)", "mount: dropped"],
            id="mount-dropped",
        ),
        pytest.param(
            ["--principal", "anonymous", "--action", "pull", "--repository", "team-a/app:v1"],
            3,
            ["DENY (default-deny) for anonymous", "401 with a challenge", "scope: repository:team-a/app:pull"],
            id="anonymous-challenged",
        ),
    ],
)
def test_explain_decides_the_request_as_the_server_does(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, expected: list[str]
) -> None:
    assert main(["explain", "--config", str(config), *args]) == code
    out = capsys.readouterr().out
    for text in expected:
        assert text in out, out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--principal", "alcie"], "no account `alcie`", id="unknown-principal"),
        pytest.param(["--credential", "nope"], "no access credential `nope`", id="unknown-credential"),
        pytest.param(["--principal", "alice", "--group", "x"], "--group", id="group-with-identities"),
    ],
)
def test_explain_refuses_what_does_not_exist(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["explain", "--config", str(config), *args, "--action", "pull", "--repository", "team-a/app"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_check_warns_for_tag_qualified_allows_and_for_tag_denies_of_pull_or_push(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(
        "statements:\n"
        "  - {id: release-pull, effect: allow, principals: [user:bob], actions: [pull], resources: ['t/app:release-*']}\n"
        "  - {id: no-prod, effect: deny, principals: [user:bob], actions: [pull], resources: ['t/app:prod-*']}\n"
        "  - {id: immutable, effect: deny, principals: ['*'], actions: [tag-overwrite], resources: ['t/**:v*']}\n"
    )
    assert main(["check", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split("`")[1] for line in err] == ["p.yaml#release-pull", "p.yaml#no-prod"], err
    assert "grants only requests naming a matching tag" in err[0]
    assert "also refuses every blob and manifest by digest of `t/app`" in err[1]
    # a deny of tag words (create, overwrite, delete-tag) always names its tag: nothing to warn


def test_check_reports_errors_of_the_policies_and_of_the_identities_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "a.yaml").write_text(
        "statements:\n  - {id: x, effect: allow, principals: [user:a], actions: [pul], resources: [a]}\n"
    )
    (tmp_path / "ids.yaml").write_text("users:\n  - {name: a, colour: blue}\n")
    (tmp_path / "c.yaml").write_text("policies: policies\nidentities: ids.yaml\n")
    assert main(["check", "--config", str(tmp_path / "c.yaml")]) == 1
    err = capsys.readouterr().err
    assert "a.yaml:2:" in err and "ids.yaml" in err


def test_serve_without_policies_refuses_unless_allowed_empty(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["serve"]) == 2
    assert "--allow-empty" in capsys.readouterr().err
    started: list[object] = []

    def run(config: object) -> int:
        started.append(config)
        return 0

    monkeypatch.setattr("regproxy.server.run.run", run)
    assert main(["serve", "--allow-empty"]) == 0
    assert len(started) == 1


def test_check_reports_every_error_of_a_native_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text(
        "statements:\n"
        "  - {id: x, effect: allow, principals: [user:a], actions: [pul], resources: [a]}\n"
        "  - {id: y, effect: perhaps, principals: [user:a], actions: [pull], resources: [a]}\n"
        "  - {id: z, effect: allow, principals: [user:a], actions: [pull], resources: [a]}\n"
        "  - {id: z, effect: allow, principals: [user:a], actions: [pull], resources: [b]}\n"
    )
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "a.yaml:2:" in err and "a.yaml:3:" in err and "a.yaml:5:" in err and "3 error(s)" in err
