"""The five policy languages deciding real pushes, pulls and deletes through regproxy.

One policies directory holds a document of each dialect, written as that cloud writes it and
taken from the seed documents' own examples where they have one (../shared/seeds):

- native: ``native.yaml`` (an allow, and an explicit deny that freezes ``native/frozen/**``);
- Thalassa: the built-in ``registry:developer`` bound at project A (seed 000: "a principal with
  project-level access on project A cannot access project B's namespaces"), and a custom role
  ``thalassa/registry-cleaner.yaml`` with ``delete`` bound at project A;
- Oracle OCI: ``oci/acme.policy``, the seed 001 statements for acme-pullers (``where all
  {target.repo.name=/acme-web-app*/}``), the restricted acme-pushers (``where ANY
  {request.permission = …}``), acme-managers in a compartment (no create on push there), a
  ``manage all-resources in tenancy`` group, and the tenancy's Administrators group;
- Tencent CAM: ``tencent/foo-maintainer.json`` (seed 002 "authorizing by action": create,
  delete and push in ``foo``, no pull), the preset ``QcloudCCRReadOnlyAccess``, and the seed's
  explicit deny of repository deletion;
- Alibaba RAM: ``alibaba/juzhong-read.json`` (seed 003 scenario 1) and
  ``alibaba/nginx-admin.json`` (scenario 2, region cn-hangzhou, this deployment's region).

``bindings.yaml`` attaches the Thalassa, Tencent and Alibaba documents; the config's
``dialects`` names the Thalassa projects, the OCI compartment and the Alibaba region/account.
At the end, the readings where each cloud's document decided against an earlier reading, with
real clients too: a Tencent repository-delete deny next to a broad allow leaves tag deletes, a
tag-qualified ``ccr:pull`` grants nothing, a Thalassa organisation binding reaches project
namespaces, an access credential without a registry scope, the Alibaba account owner, and an
Alibaba session policy (a second regproxy with the token service, so these go through tokens).

Each case is one real client operation (push with ``skopeo copy``, pull with ``podman pull``,
delete with ``skopeo delete``, which deletes by digest: delete-manifest). An allowed case must
really reach the registry and change or read its state, and the audit event of its decisive
request names the dialect's statement; a refused case fails in the client, the same request
sent by hand is 403 DENIED from regproxy, and the registry's access log shows nothing of it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from regproxy.identity.passwords import hash_password
from tests.support import Image, Podman, Proxy, Registry, Run, Skopeo, build_image, request, wait_until, write_layout
from tests.support.distribution import push_image
from tests.support.examples import EXAMPLES, unique
from tests.support.oci import MANIFEST_TYPE
from tests.support.operations import wait_for_metric
from tests.support.tokens import write_ec_key

pytestmark = pytest.mark.e2e

LAYERS = (48 * 1024, 16 * 1024)

# -- the documents, as each cloud writes them ----------------------------------------------
NATIVE = """\
version: 1
statements:
  - id: devs-write
    effect: allow
    principals: [group:native-devs]
    actions: [pull, list, push, tag-create, tag-overwrite, create-repository, delete-tag, delete-manifest]
    resources: ["native/**"]
  - id: frozen
    effect: deny
    principals: [authenticated]
    actions: [push, tag-create, tag-overwrite, create-repository, delete-tag, delete-manifest, delete-blob]
    resources: ["native/frozen/**"]
"""

THALASSA_CLEANER = """\
name: registry-cleaner
description: Deletes old images from the project's repositories
labels:
  team: platform
rules:
  - resources: [container_registry_repository]
    permissions: [read, list, pull, delete]
    note: retention job
"""

# seed 001, verbatim but for line breaks
OCI_ACME = """\
# Container Registry, "Policies to Control Repository Access"
Allow group acme-pullers to read repos in tenancy where all { target.repo.name=/acme-web-app*/ }
Allow group acme-pushers to manage repos in tenancy where ANY {request.permission = 'REPOSITORY_READ', request.permission = 'REPOSITORY_UPDATE', request.permission = 'REPOSITORY_CREATE'}
Allow group acme-managers to manage repos in compartment acme-compartment
Allow group tenancy-admins to manage all-resources in tenancy
"""

# seed 002, "Authorizing by action (API)"
TENCENT_FOO_MAINTAINER = """\
{
   "version": "2.0",
   "statement": [{
       "action": [
           "ccr:CreateRepository",
           "ccr:BatchDeleteRepository",
           "ccr:DeleteRepository",
           "ccr:push"
       ],
       "resource": "qcs::ccr:::repo/foo/*",
       "effect": "allow"
   }]
}
"""

# seed 002, "to prohibit deleting any image repository"
TENCENT_NO_DELETE = """\
{
   "version": "2.0",
   "statement": [{
       "action": [
           "ccr:BatchDeleteRepository",
           "ccr:DeleteRepository"
       ],
       "resource": "qcs::ccr:::repo/*",
       "effect": "deny"
   }]
}
"""

# seed 002's tag resource, with an action CAM checks against the repository
TENCENT_PULL_ONE_TAG = """\
{
   "version": "2.0",
   "statement": [{
       "action": "ccr:pull",
       "resource": "qcs::ccr:::repo/tq/app:v1",
       "effect": "allow"
   }]
}
"""

# seed 003, scenario 1: read access to a namespace
ALIBABA_JUZHONG_READ = """\
{
"Statement": [
{
"Action": [
"cr:Get*",
"cr:List*",
"cr:PullRepository"
],
"Effect": "Allow",
"Resource": [
"acs:cr:*:*:repository/juzhong/*"
]
}
],
"Version": "1"
}
"""

# seed 003, scenario 2: full access to a single repository, China (Hangzhou)
# the seed's "authorize a RAM user to manage a repository" example, as examples/ ships it
ALIBABA_NGINX_ADMIN = (EXAMPLES / "dialects/alibaba/policies/alibaba/nginx-admin.json").read_text()

BINDINGS = """\
bindings:
  - id: ci-build
    policy: registry:developer
    principals: [service-account:thal-ci]
    project: A
  - id: cleaners
    policy: registry-cleaner
    principals: [user:thea]
    project: A
  - id: foo-maintainers
    policy: foo-maintainer
    principals: [user:tom, user:tina, user:ted]
  - id: ccr-readers
    policy: QcloudCCRReadOnlyAccess
    principals: [user:tom, user:tina]
  - id: no-deletes
    policy: ccr-no-delete
    principals: [user:tina]
  - id: juzhong-readers
    policy: juzhong-read
    principals: [user:li]
  - id: nginx-admins
    policy: nginx-admin
    principals: [user:wang]
  - id: full
    policy: QcloudCCRFullAccess
    principals: [user:tess]
  - id: no-repository-delete
    policy: ccr-no-delete
    principals: [user:tess]
  - id: one-tag
    policy: pull-one-tag
    principals: [user:tq]
"""

POLICIES = {
    "native.yaml": NATIVE,
    "thalassa/registry-cleaner.yaml": THALASSA_CLEANER,
    "oci/acme.policy": OCI_ACME,
    "tencent/foo-maintainer.json": TENCENT_FOO_MAINTAINER,
    "tencent/ccr-no-delete.json": TENCENT_NO_DELETE,
    "alibaba/juzhong-read.json": ALIBABA_JUZHONG_READ,
    "alibaba/nginx-admin.json": ALIBABA_NGINX_ADMIN,
    "tencent/pull-one-tag.json": TENCENT_PULL_ONE_TAG,
    "bindings.yaml": BINDINGS,
}

DIALECTS = {
    "thalassa_projects": {"A": ["thal-a"], "B": ["thal-b"]},
    "oci_compartments": {"acme-compartment": ["acme-comp"]},
    "alibaba_region": "cn-hangzhou",
    "alibaba_account": "1234567890123456",
}

USERS = {  # login -> groups
    "nadia": ["native-devs"],
    "thea": [],
    "olga": ["acme-pullers"],
    "oscar": ["acme-pushers"],
    "omar": ["acme-managers"],
    "tom": [],
    "tina": [],
    "ted": [],
    "li": [],
    "wang": [],
    "oadmin": ["Administrators"],
    "oall": ["tenancy-admins"],
    "tess": [],
    "tq": [],
}
SERVICE_ACCOUNTS: dict[str, list[str]] = {"thal-ci": []}


def password(login: str) -> str:
    return f"{login}-dialects-password"


def principal_id(login: str) -> str:
    return f"service-account:{login}" if login in SERVICE_ACCOUNTS else f"user:{login}"


@functools.cache
def identities() -> str:
    def account(name: str, groups: list[str]) -> dict[str, Any]:
        return {"name": name, "password": hash_password(password(name), log_n=10), "groups": groups}

    return yaml.safe_dump(
        {
            "users": [account(n, g) for n, g in USERS.items()],
            "service_accounts": [account(n, g) for n, g in SERVICE_ACCOUNTS.items()],
        }
    )


# -- the cases ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    dialect: str
    operation: str  # push | pull | delete
    login: str
    repository: str  # `{u}` becomes a name no other test uses
    allowed: bool
    statement: str | None = None  # the statement that decides (allowed, or refused by explicit deny)
    existing: bool = False  # push into a repository that already exists upstream
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.dialect}-{self.operation}-{'allowed' if self.allowed else 'refused'}-{self.why}"


CASES = [
    # native
    Case("native", "push", "nadia", "native/{u}/app", True, "native.yaml#devs-write", why="devs"),
    Case("native", "push", "nadia", "native/frozen/{u}", False, "native.yaml#frozen", why="explicit-deny"),
    Case("native", "pull", "nadia", "native/{u}/app", True, "native.yaml#devs-write", why="devs"),
    Case("native", "pull", "nadia", "team-b/{u}/app", False, why="no-statement"),
    Case("native", "delete", "nadia", "native/{u}/app", True, "native.yaml#devs-write", why="devs"),
    Case("native", "delete", "nadia", "native/frozen/{u}", False, "native.yaml#frozen", why="explicit-deny"),
    # Thalassa: registry:developer and a custom role, both bound at project A
    Case("thalassa", "push", "thal-ci", "thal-a/{u}/app", True, "ci-build/registry:developer#1", why="project-a"),
    Case("thalassa", "push", "thal-ci", "thal-b/{u}/app", False, why="project-b"),
    Case("thalassa", "pull", "thal-ci", "thal-a/{u}/app", True, "ci-build/registry:developer#1", why="project-a"),
    Case("thalassa", "pull", "thal-ci", "thal-b/{u}/app", False, why="project-b"),
    Case("thalassa", "delete", "thea", "thal-a/{u}/app", True, "cleaners/registry-cleaner#1", why="custom-role"),
    Case("thalassa", "delete", "thal-ci", "thal-a/{u}/app", False, why="developer-has-no-delete"),
    # Oracle OCI: the seed's three groups
    Case("oci", "push", "oscar", "acme-{u}/api", True, "oci/acme.policy#3.2", why="pushers-create-in-tenancy"),
    Case(
        "oci",
        "push",
        "omar",
        "acme-comp/{u}",
        True,
        "oci/acme.policy#4",
        existing=True,
        why="managers-existing-repo-in-compartment",
    ),
    Case("oci", "push", "omar", "acme-comp/{u}", False, why="managers-no-create-in-compartment"),
    Case("oci", "pull", "olga", "acme-web-app-{u}/web", True, "oci/acme.policy#2", why="name-pattern"),
    Case("oci", "pull", "olga", "acme-comp/{u}", False, why="name-pattern"),
    Case("oci", "delete", "omar", "acme-comp/{u}", True, "oci/acme.policy#4", why="managers"),
    Case("oci", "delete", "oscar", "acme-{u}/api", False, why="restricted-pushers"),
    Case("oci", "delete", "oadmin", "anything-{u}/x", True, "oci-builtin#Administrators", why="administrators-group"),
    Case("oci", "push", "oall", "anything-{u}/x", True, "oci/acme.policy#5", why="manage-all-resources"),
    # Tencent CAM
    Case("tencent", "push", "tom", "foo/{u}", True, "foo-maintainers/foo-maintainer#0", why="foo"),
    Case("tencent", "push", "tom", "bar/{u}", False, why="not-foo"),
    Case("tencent", "pull", "tom", "foo/{u}", True, "ccr-readers/QcloudCCRReadOnlyAccess#0", why="preset"),
    Case("tencent", "pull", "ted", "foo/{u}", False, why="maintainer-grants-no-pull"),
    Case("tencent", "delete", "tom", "foo/{u}", True, "foo-maintainers/foo-maintainer#0", why="foo"),
    Case("tencent", "delete", "tina", "foo/{u}", False, "no-deletes/ccr-no-delete#0", why="explicit-deny"),
    # Alibaba RAM, deployment cn-hangzhou
    Case("alibaba", "push", "wang", "juzhong/nginx", True, "nginx-admins/nginx-admin#0", why="scenario-2"),
    Case("alibaba", "push", "li", "juzhong/{u}", False, why="scenario-1-read-only"),
    Case("alibaba", "pull", "li", "juzhong/{u}", True, "juzhong-readers/juzhong-read#0", why="scenario-1"),
    Case("alibaba", "pull", "li", "shanghai/{u}", False, why="scenario-1-other-namespace"),
    Case("alibaba", "delete", "wang", "juzhong/nginx", True, "nginx-admins/nginx-admin#0", why="scenario-2"),
    Case("alibaba", "delete", "li", "juzhong/{u}", False, why="scenario-1-read-only"),
]


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gate(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """regproxy with one document of each dialect, bindings and the dialect config."""
    server = Proxy(
        tmp_path_factory.mktemp("regproxy-dialects"),
        registry.url,
        policies=POLICIES,
        identities=identities(),
        settings={"dialects": DIALECTS},
    )
    for name in POLICIES:  # documents live in sub-directories named after their dialect
        (server.policies_dir / name).parent.mkdir(parents=True, exist_ok=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def image() -> Image:
    return build_image(LAYERS)


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    client = Podman(tmp_path / "podman")
    yield client
    client.close()


# -- helpers --------------------------------------------------------------------------------
def creds(login: str) -> str:
    return f"{login}:{password(login)}"


def direct_manifest(registry: Registry, repository: str, reference: str) -> int:
    return request(
        registry.url, "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPE}
    ).status


def assert_client_denied(run: Run) -> None:
    """The client failed on a denial (skopeo and podman word it "denied" or "403 (Forbidden)")."""
    assert not run.ok, str(run)
    text = str(run).lower()
    assert "denied" in text or "403 (forbidden)" in text, str(run)


def audit(
    proxy: Proxy, login: str, repository: str, done: Callable[[list[dict[str, Any]]], bool], what: str
) -> list[dict[str, Any]]:
    """This principal's audit events on ``repository``, polled until ``done`` holds."""

    def found() -> list[dict[str, Any]] | None:
        events = [
            e for e in proxy.audit_events() if e["principal"] == principal_id(login) and e["repository"] == repository
        ]
        return events if done(events) else None

    return wait_until(found, timeout=10, what=what)


def run_operation(
    case: Case, proxy: Proxy, repository: str, tag: str, *, skopeo: Skopeo, podman: Podman, layout: Path
) -> Run:
    target = f"docker://{proxy.address}/{repository}:{tag}"
    if case.operation == "push":
        return skopeo.copy(f"oci:{layout}:latest", target, dest_creds=creds(case.login))
    if case.operation == "pull":
        login = podman.login(proxy.address, case.login, password(case.login))
        assert login.ok, str(login)
        return podman.pull(f"{proxy.address}/{repository}:{tag}")
    return skopeo.run("delete", "--tls-verify=false", "--retry-times", "0", "--creds", creds(case.login), target)


def by_hand(case: Case, repository: str, tag: str, image: Image) -> tuple[str, str]:
    """The refused operation's decisive request, as (method, target)."""
    if case.operation == "push":
        return "POST", f"/v2/{repository}/blobs/uploads/"
    if case.operation == "pull":
        return "GET", f"/v2/{repository}/manifests/{tag}"
    return "DELETE", f"/v2/{repository}/manifests/{image.digest}"


def writes(lines: list[str], repository: str, methods: tuple[str, ...]) -> list[str]:
    return [line for line in lines if any(f'"{m} /v2/{repository}/' in line for m in methods)]


# -- the test -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_dialect_decides_a_real_client_operation(
    case: Case, gate: Proxy, registry: Registry, skopeo: Skopeo, podman: Podman, image: Image, tmp_path: Path
) -> None:
    repository = case.repository.format(u=unique(case.dialect))
    tag = unique("t")
    layout = write_layout(tmp_path / "layout", image)
    if case.operation in ("pull", "delete") or case.existing:
        push_image(registry.url, repository, build_image((8 * 1024,)) if case.existing else image, tag)
    existed = registry.has_repository(repository)
    mark = len(registry.requests())

    run = run_operation(case, gate, repository, tag, skopeo=skopeo, podman=podman, layout=layout)
    seen = registry.requests()[mark:]

    if case.allowed:
        assert run.ok, str(run)
        method, target = {
            "push": ("PUT", f"/v2/{repository}/manifests/{tag}"),
            "pull": ("GET", f"/v2/{repository}/manifests/{tag}"),
            "delete": ("DELETE", f"/v2/{repository}/manifests/{image.digest}"),
        }[case.operation]
        reached = [line for line in seen if f'"{method} {target} ' in line]
        assert reached, f"{method} {target} never reached the registry:\n" + "\n".join(seen)
        if case.operation == "push":
            assert (
                request(
                    registry.url, "GET", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPE}
                ).body
                == image.manifest.data
            )
        elif case.operation == "pull":
            assert podman.image_digest(f"{gate.address}/{repository}:{tag}") == image.digest
        else:
            assert direct_manifest(registry, repository, image.digest) == 404  # gone upstream
            assert direct_manifest(registry, repository, tag) == 404
        events = audit(
            gate,
            case.login,
            repository,
            lambda es: any(e["method"] == method and e["path"] == target for e in es),
            what=f"the audit event of {method} {target}",
        )
        decisive = [e for e in events if e["method"] == method and e["path"] == target]
        assert [e["decision"] for e in decisive] == ["allowed"], decisive
        assert case.statement in decisive[0]["statements"], decisive
        return

    assert_client_denied(run)
    events = audit(
        gate,
        case.login,
        repository,
        lambda es: any(e["status"] == 403 for e in es),
        what="the audit event of the refusal",
    )
    refusal = next(e for e in events if e["status"] == 403)
    if case.statement is None:
        assert (refusal["decision"], refusal["statements"]) == ("default-deny", []), refusal
    else:
        assert refusal["decision"] == "explicit-deny" and case.statement in refusal["statements"], refusal

    method, target = by_hand(case, repository, tag, image)
    response = request(
        gate.url, method, target, auth=(case.login, password(case.login)), body=b"" if method == "POST" else None
    )
    assert response.status == 403, (response.status, response.body)
    assert response.error_codes() == ["DENIED"]

    seen = registry.requests()[mark:]
    if case.operation == "push":
        assert writes(seen, repository, ("POST", "PUT", "PATCH")) == []
        assert registry.has_repository(repository) == existed
    elif case.operation == "pull":
        assert writes(seen, repository, ("GET", "HEAD")) == []
    else:
        assert writes(seen, repository, ("DELETE",)) == []
        assert direct_manifest(registry, repository, tag) == 200  # still there


def test_the_cases_cover_every_dialect_operation_and_outcome() -> None:
    """Each of the five dialects has an allowed and a refused push, pull and delete above."""
    for dialect in ("native", "thalassa", "oci", "tencent", "alibaba"):
        covered = {(c.operation, c.allowed) for c in CASES if c.dialect == dialect}
        assert covered == {(op, allowed) for op in ("push", "pull", "delete") for allowed in (True, False)}, dialect


# -- the readings of issue "every cloud's policy means here what it means in that cloud" -------
# A second regproxy with the token service (so podman and skopeo take the Bearer token flow, and
# a short-lived credential's session policy travels inside the tokens issued for it).


# seed 003, scenario 1 as a session policy: pull in juzhong only
ALIBABA_SESSION_POLICY = """\
{
  "Version": "1",
  "Statement": [
    {"Action": ["cr:Get*", "cr:List*", "cr:PullRepository"], "Effect": "Allow",
     "Resource": ["acs:cr:*:*:repository/juzhong/*"]}
  ]
}
"""

READINGS_BINDINGS = """\
bindings:
  - id: org-admin
    policy: registry:admin
    principals: [user:orga]
  - id: builders
    policy: registry:developer
    principals: [service-account:thal-ci]
  - id: deployers
    policy: AliyunContainerRegistryFullAccess
    principals: [service-account:deployer]
"""

READINGS_POLICIES = {"bindings.yaml": READINGS_BINDINGS}
READINGS_USERS = ["orga", "root"]
NO_REGISTRY_SCOPE = ("rpc-objstore", "objstore-secret")  # thal-ci, scope [objectStorage]
PULL_SCOPE = ("rpc-pull", "pull-secret")  # thal-ci, scope containerRegistry:pull


@functools.cache
def readings_identities() -> str:
    def account(name: str) -> dict[str, Any]:
        return {"name": name, "password": hash_password(password(name), log_n=10)}

    return yaml.safe_dump(
        {
            "users": [account(n) for n in READINGS_USERS],
            "service_accounts": [account("thal-ci"), {"name": "deployer"}],
            "access_credentials": [
                {
                    "id": NO_REGISTRY_SCOPE[0],
                    "secret": hash_password(NO_REGISTRY_SCOPE[1], log_n=10),
                    "principal": "service-account:thal-ci",
                    "scope": ["objectStorage"],
                },
                {
                    "id": PULL_SCOPE[0],
                    "secret": hash_password(PULL_SCOPE[1], log_n=10),
                    "principal": "service-account:thal-ci",
                    "scope": "containerRegistry:pull",
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def readings(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    workdir = tmp_path_factory.mktemp("regproxy-readings")
    server = Proxy(
        workdir,
        registry.url,
        policies=READINGS_POLICIES,
        identities=readings_identities(),
        settings={
            "dialects": {
                "thalassa": {"projects": {"A": ["thal-a"], "B": ["thal-b"]}},
                "alibaba": {
                    "region": "cn-hangzhou",
                    "account": "1234567890123456",
                    "account_owners": ["user:root"],
                },
            },
            "tokens": {"signing_key": str(write_ec_key(workdir / "signing.pem"))},
        },
    )
    for name in READINGS_POLICIES:
        (server.policies_dir / name).parent.mkdir(parents=True, exist_ok=True)
    server.start()
    yield server
    server.stop()


def decisive(proxy: Proxy, principal: str, repository: str, method: str, target: str) -> dict[str, Any]:
    """The audit event of one request (polled until it is written)."""

    def found() -> dict[str, Any] | None:
        return next(
            (
                e
                for e in proxy.audit_events()
                if e["principal"] == principal
                and e["repository"] == repository
                and e["method"] == method
                and e["path"] == target
            ),
            None,
        )

    return wait_until(found, timeout=10, what=f"the audit event of {method} {target}")


def test_tencent_a_repository_delete_deny_next_to_a_broad_allow_leaves_tag_deletes(
    gate: Proxy, registry: Registry, skopeo: Skopeo, image: Image
) -> None:
    """Seed 002's "prohibit deleting any image repository" (a deny of ccr:BatchDeleteRepository
    and ccr:DeleteRepository) next to QcloudCCRFullAccess: a tag delete (ccr:DeleteTag, its own
    permission) is allowed, and then answered 405 UNSUPPORTED by regproxy, as distribution 2.8
    has no tag deletion (never forwarded); skopeo's delete by digest is refused."""
    wait_for_metric(gate.admin_url, "regproxy_upstream_probes_total", lambda v: v >= 1, what="the first probe")
    repository = f"tess/{unique('app')}"
    tag = unique("t")
    push_image(registry.url, repository, image, tag)

    by_digest = skopeo.run(
        "delete", "--tls-verify=false", "--retry-times", "0", "--creds", creds("tess"),
        f"docker://{gate.address}/{repository}:{tag}",
    )  # fmt: skip
    assert_client_denied(by_digest)
    refused = decisive(gate, "user:tess", repository, "DELETE", f"/v2/{repository}/manifests/{image.digest}")
    assert refused["decision"] == "explicit-deny"
    assert "no-repository-delete/ccr-no-delete#0" in refused["statements"]
    assert direct_manifest(registry, repository, image.digest) == 200

    mark = len(registry.requests())
    target = f"/v2/{repository}/manifests/{tag}"
    response = request(gate.url, "DELETE", target, auth=("tess", password("tess")))
    assert (response.status, response.error_codes()) == (405, ["UNSUPPORTED"]), response.body
    assert not [line for line in registry.requests()[mark:] if f'"DELETE {target} ' in line]
    allowed = decisive(gate, "user:tess", repository, "DELETE", target)
    assert (allowed["decision"], allowed["statements"]) == ("allowed", ["full/QcloudCCRFullAccess#0"])


def test_tencent_a_tag_qualified_pull_is_accepted_and_grants_no_pull(
    gate: Proxy, registry: Registry, podman: Podman, image: Image
) -> None:
    """`ccr:pull` on `qcs::ccr:::repo/tq/app:v1`: CAM accepts the document (so regproxy loaded
    the set) and checks ccr:pull against the repository, which a tag resource never names."""
    push_image(registry.url, "tq/app", image, "v1")
    assert podman.login(gate.address, "tq", password("tq")).ok
    assert_client_denied(podman.pull(f"{gate.address}/tq/app:v1"))
    refused = decisive(gate, "user:tq", "tq/app", "GET", "/v2/tq/app/manifests/v1")
    assert (refused["decision"], refused["statements"]) == ("default-deny", [])


def test_thalassa_an_organisation_binding_reaches_project_namespaces(
    readings: Proxy, registry: Registry, skopeo: Skopeo, podman: Podman, image: Image, tmp_path: Path
) -> None:
    """registry:admin bound at the organisation: push into project B's namespace, pull from
    project A's — bindings inherit downward."""
    layout = write_layout(tmp_path / "layout", image)
    pushed = f"thal-b/{unique('app')}"
    run = skopeo.copy(f"oci:{layout}:latest", f"docker://{readings.address}/{pushed}:v1", dest_creds=creds("orga"))
    assert run.ok, str(run)
    assert direct_manifest(registry, pushed, "v1") == 200
    pulled = f"thal-a/{unique('app')}"
    push_image(registry.url, pulled, image, "v1")
    assert podman.login(readings.address, "orga", password("orga")).ok
    assert podman.pull(f"{readings.address}/{pulled}:v1").ok
    event = decisive(readings, "user:orga", pulled, "GET", f"/v2/{pulled}/manifests/v1")
    assert (event["decision"], event["statements"]) == ("allowed", ["org-admin/registry:admin#1"])


def test_thalassa_a_credential_without_a_registry_scope_logs_in_and_gets_nothing(
    readings: Proxy, registry: Registry, podman: Podman, skopeo: Skopeo, image: Image, tmp_path: Path
) -> None:
    """A credential made for other services (scope [objectStorage]) authenticates, and every
    registry request through it is refused with scope-deny; a pull-only one pulls, never pushes."""
    repository = f"thal-a/{unique('app')}"
    push_image(registry.url, repository, image, "v1")
    assert podman.login(readings.address, *NO_REGISTRY_SCOPE).ok  # authenticates
    assert_client_denied(podman.pull(f"{readings.address}/{repository}:v1"))
    refused = next(
        e
        for e in wait_until(
            lambda: [e for e in readings.audit_events() if e.get("credential") == NO_REGISTRY_SCOPE[0]
                     and e["repository"] == repository and e["status"] == 403] or None,
            timeout=10,
            what="the refusal of the no-scope credential",
        )
    )  # fmt: skip
    assert refused["decision"] == "scope-deny" and refused["principal"] == "service-account:thal-ci"

    assert podman.login(readings.address, *PULL_SCOPE).ok
    assert podman.pull(f"{readings.address}/{repository}:v1").ok
    layout = write_layout(tmp_path / "layout", image)
    pushed = skopeo.copy(
        f"oci:{layout}:latest", f"docker://{readings.address}/{repository}:v2", dest_creds=":".join(PULL_SCOPE)
    )
    assert_client_denied(pushed)
    assert direct_manifest(registry, repository, "v2") == 404


def test_alibaba_the_account_owner_may_do_anything(
    readings: Proxy, registry: Registry, skopeo: Skopeo, image: Image, tmp_path: Path
) -> None:
    """Seed 003: "an Alibaba Cloud account has full access to all resources it owns" — no policy
    bound to `root`, which is named in dialects.alibaba.account_owners."""
    layout = write_layout(tmp_path / "layout", image)
    repository = f"anywhere/{unique('app')}"
    target = f"docker://{readings.address}/{repository}:v1"
    assert skopeo.copy(f"oci:{layout}:latest", target, dest_creds=creds("root")).ok
    deleted = skopeo.run("delete", "--tls-verify=false", "--retry-times", "0", "--creds", creds("root"), target)
    assert deleted.ok, str(deleted)
    assert direct_manifest(registry, repository, image.digest) == 404
    event = decisive(readings, "user:root", repository, "DELETE", f"/v2/{repository}/manifests/{image.digest}")
    assert (event["decision"], event["statements"]) == ("allowed", ["alibaba-builtin#AccountOwner"])


def test_alibaba_a_session_policy_narrows_a_short_lived_credential(
    readings: Proxy, registry: Registry, podman: Podman, skopeo: Skopeo, image: Image, tmp_path: Path
) -> None:
    """`regproxy credentials issue --session-policy`: the deployer role holds
    AliyunContainerRegistryFullAccess, the session policy allows pulls in juzhong only; the
    credential (through the token flow) pulls from juzhong, and its push is a scope-deny."""
    (tmp_path / "session.json").write_text(ALIBABA_SESSION_POLICY)
    issued = readings.cli(
        "credentials", "issue", "--principal", "service-account:deployer", "--ttl", "10m",
        "--session-policy", str(tmp_path / "session.json"), "--json",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    credential = json.loads(issued.stdout)
    repository = f"juzhong/{unique('app')}"
    push_image(registry.url, repository, image, "v1")

    assert podman.login(readings.address, credential["username"], credential["password"]).ok
    assert podman.pull(f"{readings.address}/{repository}:v1").ok
    layout = write_layout(tmp_path / "layout", image)
    sts_creds = f"{credential['username']}:{credential['password']}"
    pushed = skopeo.copy(f"oci:{layout}:latest", f"docker://{readings.address}/{repository}:v2", dest_creds=sts_creds)
    assert_client_denied(pushed)
    assert direct_manifest(registry, repository, "v2") == 404
    refusals = wait_until(
        lambda: [e for e in readings.audit_events() if e["repository"] == repository and e["status"] == 403] or None,
        timeout=10,
        what="the refused push",
    )
    assert {e["decision"] for e in refusals} == {"scope-deny"}
    assert {e["principal"] for e in refusals} == {"service-account:deployer"}
