"""Policies as code against the real registry and a real regproxy process: a reload whose set
fails its decision tests is refused while traffic continues, a start with failing tests does not
happen, and a shadow set's disagreement counter moves exactly with the requests that disagree.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import MakeProxy
from tests.integration.test_reload import Load, decision, write_atomically
from tests.support import Registry, build_image, request, wait_until
from tests.support.distribution import push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.oci import MANIFEST_TYPE
from tests.support.operations import scrape, wait_for_events, wait_for_metric
from tests.support.processes import free_port
from tests.support.proxy import EXAMPLES, ROOT, example_policies

pytestmark = pytest.mark.integration

WAIT = 15.0
TESTS = """\
tests:
  - name: bob reads team-a
    principal: user:bob
    action: pull
    repository: team-a/app
    expect: allow
    statements: [team-a.yaml#readers-pull]

  - name: alice pushes into team-a
    principal: user:alice
    action: push
    repository: team-a/app
    repository_exists: yes
    expect: allow
"""
# team-a.yaml without the readers' statement: bob would lose team-a, which the tests forbid
READERS_DROPPED = (
    (EXAMPLES / "policies" / "team-a.yaml")
    .read_text()
    .replace(
        "  - id: readers-pull\n    effect: allow\n    principals: [group:team-a-readers]\n"
        '    actions: [pull, list, catalog]\n    resources: ["team-a/**"]\n',
        "",
    )
)


@pytest.fixture
def repo(registry: Registry) -> str:
    name = f"team-a/{unique('policycode')}"
    push_image(registry.url, name, build_image((1024,)), "v1")
    return name


def head(proxy_url: str, repo: str, auth: tuple[str, str] | None, request_id: str) -> int:
    headers = {"Accept": MANIFEST_TYPE, "X-Request-Id": request_id}
    return request(proxy_url, "HEAD", f"/v2/{repo}/manifests/v1", auth=auth, headers=headers).status


def test_a_reload_that_fails_its_tests_is_refused_while_traffic_continues(make_proxy: MakeProxy, repo: str) -> None:
    """With ``policy_tests: true`` and a ``team-a.test.yaml`` beside the documents, a rewrite of
    team-a.yaml that drops bob's statement is refused: generation 1 stays, bob still reads,
    ``regproxy_policy_reloads_total{result="tests-failed"}`` is 1, the log names the failing test
    by file, line and name; alice's requests under load never fail meanwhile. A later change
    that passes its tests applies."""
    proxy = make_proxy(policies={**example_policies(), "team-a.test.yaml": TESTS}, settings={"policy_tests": True})
    assert decision(proxy, repo) == 200
    with Load(proxy, repo) as load:
        load.wait_for_more(20)
        write_atomically(proxy.policies_dir, "team-a.yaml", READERS_DROPPED)
        proxy.signal(signal.SIGHUP)
        wait_for_metric(
            proxy.admin_url,
            "regproxy_policy_reloads_total",
            lambda v: v == 1,
            what="the refusal counted",
            result="tests-failed",
        )
        load.wait_for_more(20)
    assert load.errors == [], load.errors[:10]
    assert set(load.statuses) == {200}, load.statuses

    now = scrape(proxy.admin_url)
    assert now.value("regproxy_policy_generation") == 1
    assert now.value("regproxy_policy_reloads_total", result="succeeded") == 0
    assert (
        request(proxy.url, "HEAD", f"/v2/{repo}/manifests/v1", auth=BOB, headers={"Accept": MANIFEST_TYPE}).status
        == 200
    )
    log = proxy.log_text()
    assert "policy test failed: team-a.test.yaml:2: bob reads team-a: expected allow" in log, log[-2000:]
    assert "generation 1) stays in force" in log

    # a change its tests accept goes through
    passing = (EXAMPLES / "policies" / "team-a.yaml").read_text() + (
        "  - id: extra\n    effect: allow\n    principals: [user:bob]\n    actions: [pull]\n"
        '    resources: ["other/**"]\n'
    )
    write_atomically(proxy.policies_dir, "team-a.yaml", passing)
    proxy.signal(signal.SIGHUP)
    wait_for_metric(proxy.admin_url, "regproxy_policy_generation", lambda v: v == 2, what="the passing set in force")


def test_a_start_with_failing_tests_does_not_happen(tmp_path: Path, registry: Registry) -> None:
    """regproxy refuses to start on a set whose tests fail: exit status 2, each failing test
    named, nothing listening."""
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLES / "policies", policies, ignore=shutil.ignore_patterns("tests"))
    (policies / "team-a.yaml").write_text(READERS_DROPPED)
    (policies / "team-a.test.yaml").write_text(TESTS)
    port = free_port()
    config = {
        "listen": f"127.0.0.1:{port}",
        "upstream": {"url": registry.url},
        "identities": str(EXAMPLES / "identities.yaml"),
        "policies": str(policies),
        "policy_tests": True,
        "admin": {"listen": f"127.0.0.1:{free_port()}"},
        "audit": {"path": ""},
    }
    (tmp_path / "regproxy.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "regproxy", "serve", "--config", str(tmp_path / "regproxy.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "policy test failed: " in done.stderr and "bob reads team-a" in done.stderr, done.stderr[-2000:]
    assert "policy_tests" in done.stderr
    assert "Traceback" not in done.stderr


def test_shadow_disagreements_count_exactly_the_requests_that_disagree(
    make_proxy: MakeProxy, repo: str, tmp_path: Path
) -> None:
    """A shadow set in which team-a's readers lose their statement: bob's pulls (allowed live)
    are denied in shadow, alice's agree, an anonymous caller is challenged by both. The live
    answers are the live set's; ``regproxy_shadow_disagreements_total{live="allow",shadow="deny"}``
    equals bob's requests exactly and no other pair moves; each audit line records both."""
    shadow = tmp_path / "shadow"
    shutil.copytree(EXAMPLES / "policies", shadow, ignore=shutil.ignore_patterns("tests"))
    (shadow / "team-a.yaml").write_text(READERS_DROPPED)
    proxy = make_proxy(settings={"shadow_policies": str(shadow)})
    prefix = unique("shadow")
    callers = [("alice", ALICE, 200)] * 5 + [("bob", BOB, 200)] * 3 + [("anonymous", None, 401)] * 2
    ids = set()
    for n, (_, auth, status) in enumerate(callers):
        request_id = f"{prefix}-{n}"
        ids.add(request_id)
        assert head(proxy.url, repo, auth, request_id) == status
    events = wait_for_events(proxy.audit_path, ids, what="an audit line for every request")
    wait_for_metric(
        proxy.admin_url,
        "regproxy_shadow_disagreements_total",
        lambda v: v == 3,
        what="bob's three disagreements",
        live="allow",
        shadow="deny",
    )
    series = scrape(proxy.admin_url).series("regproxy_shadow_disagreements_total")
    assert {(s.labels["live"], s.labels["shadow"]): s.value for s in series} == {("allow", "deny"): 3}
    assert scrape(proxy.admin_url).value("regproxy_shadow_errors_total") == 0
    for n, (who, _, _) in enumerate(callers):
        event = events[f"{prefix}-{n}"]
        expected = {"alice": "allow", "bob": "deny", "anonymous": "challenge"}[who]
        assert event["shadow_decision"] == expected, event
    bob = events[f"{prefix}-5"]
    assert (bob["status"], bob["decision"], bob["statements"]) == (200, "allowed", ["team-a.yaml#readers-pull"])
    assert bob["shadow_statements"] == []
    assert bob["groups"] == ["team-a-readers"]


def test_shadow_follows_its_directory_like_the_live_set(make_proxy: MakeProxy, repo: str, tmp_path: Path) -> None:
    """The shadow set is watched: a rewrite of its directory (after SIGHUP) changes the shadow
    decisions, never the live ones."""
    shadow = tmp_path / "shadow"
    shutil.copytree(EXAMPLES / "policies", shadow, ignore=shutil.ignore_patterns("tests"))
    proxy = make_proxy(settings={"shadow_policies": str(shadow)})
    prefix = unique("shadow-reload")
    assert head(proxy.url, repo, BOB, f"{prefix}-0") == 200
    write_atomically(shadow, "team-a.yaml", READERS_DROPPED)
    proxy.signal(signal.SIGHUP)

    def bob_disagrees() -> bool:
        request_id = f"{prefix}-{unique('n')}"
        assert head(proxy.url, repo, BOB, request_id) == 200
        event = wait_for_events(proxy.audit_path, {request_id}, what="bob's line")[request_id]
        return bool(event["shadow_decision"] == "deny")

    wait_until(bob_disagrees, timeout=WAIT, what="the new shadow set deciding")
    assert "shadow policy generation 2 in force" in proxy.log_text()
    assert (
        request(proxy.url, "HEAD", f"/v2/{repo}/manifests/v1", auth=ALICE, headers={"Accept": MANIFEST_TYPE}).status
        == 200
    )


def test_the_audit_lines_of_real_traffic_replay_to_the_decisions_they_record(
    make_proxy: MakeProxy, repo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the edge writes is enough to decide again: replaying a proxy's own audit log through
    the same policies flips nothing and leaves no policy decision unreplayed; through a set
    without the readers' statement exactly bob's allowed requests flip."""
    from regproxy.cli import main  # noqa: PLC0415 - the command under test, in this process

    proxy = make_proxy()
    prefix = unique("replay")
    calls = [
        ("HEAD", f"/v2/{repo}/manifests/v1", ALICE, 200),
        ("HEAD", f"/v2/{repo}/manifests/v1", BOB, 200),
        ("GET", f"/v2/{repo}/tags/list", BOB, 200),
        ("HEAD", f"/v2/{repo}/manifests/v1", None, 401),
        ("POST", f"/v2/{repo}/blobs/uploads/", BOB, 403),
        ("GET", "/v2/other/thing/tags/list", ALICE, 403),
    ]
    ids = set()
    for n, (method, path, auth, status) in enumerate(calls):
        headers = {"Accept": MANIFEST_TYPE, "X-Request-Id": f"{prefix}-{n}"}
        ids.add(f"{prefix}-{n}")
        assert request(proxy.url, method, path, auth=auth, headers=headers).status == status, (method, path)
    wait_for_events(proxy.audit_path, ids, what="every line written")
    identities = str(proxy.identities_path)

    assert main(["diff", "--audit", str(proxy.audit_path), "--against", str(proxy.policies_dir), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert (same["flipped"], same["not_replayable"]) == (0, {})
    assert same["replayed"] >= len(calls)

    candidate = proxy.workdir / "candidate"
    candidate.mkdir()
    for name, text in example_policies().items():
        (candidate / name).write_text(READERS_DROPPED if name == "team-a.yaml" else text)
    args = ["diff", "--audit", str(proxy.audit_path), "--against", str(candidate), "--json"]
    assert main([*args, "--identities", identities]) == 1
    flips = json.loads(capsys.readouterr().out)["flips"]
    assert [(f["direction"], f["principal"], f["action"], f["requests"]) for f in flips] == [
        ("allow-to-deny", "user:bob", "list", 1),
        ("allow-to-deny", "user:bob", "pull", 1),
    ]
