"""deploy/kubernetes: valid against the Kubernetes API schemas, and wired the way regproxy needs.

Every manifest is validated offline, in strict mode (an unknown field is an error), against the
schemas kubernetes-validate ships for :data:`KUBERNETES_VERSION`. Then the behaviours a schema
cannot see: probes on the admin port, the policies ConfigMap mounted as a whole directory (a
subPath mount never updates), a grace period longer than the drain, selectors that match, and a
pod filesystem, laid out the way kubelet lays it out, from which regproxy's own config loader
and policy compiler accept the shipped files.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from regproxy.config import Config
from regproxy.policy.load import compile_policy_set
from regproxy.reload import read_policy_files
from regproxy.settings.files import load_config

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
CONTAINERFILE = REPO / "deploy" / "Containerfile"

# The oldest release whose schemas every kubernetes-validate the test extra admits (>=1.28)
# ships. Every API used here (apps/v1, v1, autoscaling/v2, policy/v1) is stable there and since.
KUBERNETES_VERSION = "1.28.0"
# limits.shutdown_timeout when the config does not set it (the server's contract).
DEFAULT_SHUTDOWN_TIMEOUT = 30.0
SECRET_TEMPLATE = "secret.yaml"

Manifest = dict[str, Any]


def load_manifests() -> list[tuple[str, Manifest]]:
    out = []
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


MANIFESTS = load_manifests()


def the(kind: str, name: str | None = None) -> Manifest:
    found = [m for _, m in MANIFESTS if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def deployment() -> Manifest:
    return the("Deployment", "regproxy")


@pytest.fixture(scope="module")
def pod(deployment: Manifest) -> Manifest:
    spec: Manifest = deployment["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: Manifest) -> Manifest:
    found: list[Manifest] = [c for c in pod["containers"] if c["name"] == "regproxy"]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def config() -> Manifest:
    """regproxy.yaml as shipped in the regproxy-config ConfigMap."""
    data: Manifest = yaml.safe_load(the("ConfigMap", "regproxy-config")["data"]["regproxy.yaml"])
    return data


def port_of(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def named_port(container: Manifest, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def cpu_quantity(text: str | int) -> float:
    value = str(text)
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


def shutdown_timeout(config: Manifest) -> float:
    return float(config.get("limits", {}).get("shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT))


# --- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "manifest",
    [m for _, m in MANIFESTS],
    ids=[f"{f}:{m['kind']}/{m['metadata']['name']}" for f, m in MANIFESTS],
)
def test_manifest_is_valid_for_the_pinned_kubernetes_in_strict_mode(
    kubernetes_validate: ModuleType, manifest: Manifest
) -> None:
    error = None
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        error = f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"
    assert error is None, f"{manifest['kind']}/{manifest['metadata']['name']} at {error}"


def test_strict_mode_rejects_an_unknown_field(kubernetes_validate: ModuleType, deployment: Manifest) -> None:
    # proves that the validation above is strict: a typo such as `readinesProbe` would be caught
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# --- the set as a whole ---------------------------------------------------------------------


def test_kustomization_applies_every_manifest_but_the_secret_template(deployment: Manifest) -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    manifests = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    # applying the directory must never replace the real Secret with placeholders
    assert set(kustomization["resources"]) == manifests - {SECRET_TEMPLATE}
    assert "namespace" not in kustomization
    assert "configMapGenerator" not in kustomization  # a hash suffix turns reloads into restarts
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert [i["name"] for i in kustomization.get("images", [])] == [image.partition(":")[0]]


def test_no_manifest_names_a_namespace() -> None:
    for name, manifest in MANIFESTS:
        assert "namespace" not in manifest["metadata"], name


def test_secret_template_holds_placeholders_only() -> None:
    secret = the("Secret", "regproxy-secrets")
    assert "data" not in secret
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} looks like a real secret"


# --- pod and container ----------------------------------------------------------------------


def test_runs_as_the_image_user_without_privileges(pod: Manifest, container: Manifest) -> None:
    image_user = re.search(r"^USER\s+(\d+)(?::(\d+))?", CONTAINERFILE.read_text(), re.MULTILINE)
    assert image_user is not None
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == int(image_user.group(1)) != 0
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    own = container["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own.get("privileged", False) is False
    assert own["capabilities"]["drop"] == ["ALL"]
    assert not own["capabilities"].get("add")
    assert pod["automountServiceAccountToken"] is False


def test_service_links_cannot_leak_into_regproxy_settings(pod: Manifest) -> None:
    # a Service named regproxy would inject REGPROXY_SERVICE_HOST, REGPROXY_PORT, ...
    assert pod["enableServiceLinks"] is False


def test_replicas_and_resources(deployment: Manifest, container: Manifest) -> None:
    assert deployment["spec"]["replicas"] >= 2
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def test_workers_follow_the_cpu_limit(container: Manifest) -> None:
    (env,) = [e for e in container["env"] if e["name"] == "REGPROXY_WORKERS"]
    ref = env["valueFrom"]["resourceFieldRef"]
    assert ref["resource"] == "limits.cpu"
    assert ref["containerName"] == container["name"]
    assert ref.get("divisor", "1") in ("1", 1)
    # without a limit, limits.cpu would be the node's whole allocatable CPU
    assert cpu_quantity(container["resources"]["limits"]["cpu"]) >= 1


def test_listens_on_all_addresses_at_the_container_ports(config: Manifest, container: Manifest) -> None:
    assert config["listen"].startswith("0.0.0.0:")
    assert config["admin"]["listen"].startswith("0.0.0.0:")
    assert named_port(container, "registry") == port_of(config["listen"]) == 5000
    assert named_port(container, "admin") == port_of(config["admin"]["listen"]) == 9100


@pytest.mark.parametrize(
    ("probe", "path"),
    [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")],
    ids=["readiness", "liveness", "startup"],
)
def test_probes_ask_the_admin_port(container: Manifest, config: Manifest, probe: str, path: str) -> None:
    get = container[probe]["httpGet"]
    assert get["path"] == path
    assert named_port(container, get["port"]) == port_of(config["admin"]["listen"])
    assert get.get("scheme", "HTTP") == "HTTP"


def test_liveness_is_more_patient_than_readiness(container: Manifest) -> None:
    def window(probe: Manifest) -> int:
        return int(probe.get("periodSeconds", 10)) * int(probe.get("failureThreshold", 3))

    assert window(container["livenessProbe"]) > window(container["readinessProbe"])


def test_grace_period_covers_the_prestop_sleep_and_the_shutdown_deadline(
    pod: Manifest, container: Manifest, config: Manifest
) -> None:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert Path(command[0]).name == "sleep"
    sleep = float(command[1])
    assert sleep >= 5, "endpoints need a few seconds to drop the pod"
    # kubelet counts the grace period from the start of preStop
    assert pod["terminationGracePeriodSeconds"] > sleep + shutdown_timeout(config)


# --- volumes --------------------------------------------------------------------------------


def test_no_volume_is_mounted_with_subpath(container: Manifest) -> None:
    for mount in container["volumeMounts"]:
        assert "subPath" not in mount, mount["name"]
        assert "subPathExpr" not in mount, mount["name"]


def test_policies_configmap_is_mounted_as_the_whole_watched_directory(
    pod: Manifest, container: Manifest, config: Manifest
) -> None:
    (volume,) = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "regproxy-policies"]
    assert "items" not in volume["configMap"], "with items, a new policy file would not appear"
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["mountPath"] == config["policies"]
    assert mount["readOnly"] is True


def test_a_writable_tmp_exists_beside_the_read_only_root(pod: Manifest, container: Manifest) -> None:
    # with workers > 1 the supervisor shares metrics snapshots through tempfile.mkdtemp()
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert not mount.get("readOnly", False)
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume


def test_mounts_do_not_nest(container: Manifest) -> None:
    paths = [m["mountPath"].rstrip("/") + "/" for m in container["volumeMounts"]]
    for a in paths:
        for b in paths:
            assert a == b or not b.startswith(a), f"{b} is mounted inside {a}"


def test_mounted_files_are_readable_by_the_container_user_only(pod: Manifest) -> None:
    uid, gid = pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]
    assert gid == pod["securityContext"]["runAsGroup"]
    for volume in pod["volumes"]:
        source = next((volume[k] for k in ("configMap", "secret", "projected") if k in volume), None)
        if source is None:
            continue
        mode = source.get("defaultMode", 0o644)
        assert mode & 0o040, f"{volume['name']}: group {gid} cannot read it (uid {uid})"
        assert not mode & 0o007, f"{volume['name']}: readable by others"


# --- services, autoscaler, disruption budget ------------------------------------------------


def test_services_select_the_pods_and_reach_named_ports(deployment: Manifest, container: Manifest) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    registry, admin = the("Service", "regproxy"), the("Service", "regproxy-admin")
    for service in (registry, admin):
        assert service["spec"]["selector"].items() <= labels.items(), service["metadata"]["name"]
    assert [(p["port"], named_port(container, p["targetPort"])) for p in registry["spec"]["ports"]] == [(5000, 5000)]
    assert [(p["port"], named_port(container, p["targetPort"])) for p in admin["spec"]["ports"]] == [(9100, 9100)]


def test_admin_service_is_announced_for_prometheus() -> None:
    admin = the("Service", "regproxy-admin")
    notes = admin["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/port"] == str(admin["spec"]["ports"][0]["port"])
    assert notes["prometheus.io/path"] == "/metrics"
    assert admin["spec"]["type"] == "ClusterIP"


def test_hpa_scales_the_deployment_on_cpu(deployment: Manifest) -> None:
    hpa = the("HorizontalPodAutoscaler", "regproxy")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"] == ["cpu"]


def test_pdb_guards_the_pods_without_blocking_drains(deployment: Manifest) -> None:
    pdb = the("PodDisruptionBudget", "regproxy")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    smallest = min(deployment["spec"]["replicas"], the("HorizontalPodAutoscaler")["spec"]["minReplicas"])
    assert 1 <= pdb["spec"]["minAvailable"] < smallest


# --- the pod's filesystem, as kubelet writes it, read by regproxy itself --------------------


def write_like_kubelet(target: Path, files: dict[str, str], stamp: str) -> None:
    """kubelet's atomic writer: files in a timestamped directory, `..data` pointing at it, and
    each top-level name a symlink through `..data`. An update writes a new directory and swaps
    `..data` with one rename."""
    target.mkdir(parents=True, exist_ok=True)
    payload = target / f"..{stamp}"
    for rel, text in files.items():
        (payload / rel).parent.mkdir(parents=True, exist_ok=True)
        (payload / rel).write_text(text)
    (target / "..data_tmp").symlink_to(payload.name)
    (target / "..data_tmp").rename(target / "..data")
    for top in {rel.split("/")[0] for rel in files}:
        if not (target / top).is_symlink():
            (target / top).symlink_to(f"..data/{top}")


def volume_files(volume: Manifest) -> dict[str, str]:
    """What kubelet projects into a volume, from the shipped ConfigMaps and the Secret template."""
    if "emptyDir" in volume:
        return {}
    if "projected" in volume:
        out: dict[str, str] = {}
        for source in volume["projected"]["sources"]:
            files = volume_files(source)
            assert not files.keys() & out.keys(), (
                f"{volume.get('name')}: sources collide on {files.keys() & out.keys()}"
            )
            out.update(files)
        return out
    if "configMap" in volume:
        data = the("ConfigMap", volume["configMap"]["name"])["data"]
        items = volume["configMap"].get("items")
    elif "secret" in volume:
        # a pod volume names it secretName, a projected source name
        secret = volume["secret"]
        data = the("Secret", secret.get("secretName", secret.get("name")))["stringData"]
        items = volume["secret"].get("items")
    else:
        pytest.fail(f"unexpected volume source {sorted(volume)}")
    if items is None:
        return dict(data)
    return {item["path"]: data[item["key"]] for item in items}


def rebase(value: Any, root: Path) -> Any:
    """Every absolute path in the config, moved below ``root``."""
    if isinstance(value, dict):
        return {k: rebase(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase(v, root) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return str(root) + value
    return value


def absolute_paths(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from absolute_paths(v)
    elif isinstance(value, list):
        for v in value:
            yield from absolute_paths(v)
    elif isinstance(value, str) and value.startswith("/"):
        yield value


@pytest.fixture
def pod_root(tmp_path: Path, pod: Manifest, container: Manifest) -> Path:
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        write_like_kubelet(
            tmp_path / mount["mountPath"].lstrip("/"),
            volume_files(volumes[mount["name"]]),
            "2026_01_01_00_00_00.000000001",
        )
    return tmp_path


def load_in_pod(pod_root: Path, config: Manifest, container: Manifest) -> Config:
    path = pod_root / "rebased-regproxy.yaml"
    path.write_text(json.dumps(rebase(config, pod_root)))
    limit = container["resources"]["limits"]["cpu"]
    # what kubelet puts in REGPROXY_WORKERS: the CPU limit, rounded up
    env = {"REGPROXY_WORKERS": str(math.ceil(cpu_quantity(limit)))}
    return load_config(path, env=env)


def test_every_file_the_config_names_is_mounted(pod_root: Path, config: Manifest) -> None:
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT\s+(.*)$", CONTAINERFILE.read_text(), re.MULTILINE)[-1])
    config_path = entrypoint[entrypoint.index("--config") + 1]
    shipped = yaml.safe_load((pod_root / config_path.lstrip("/")).read_text())
    assert shipped == config
    for path in absolute_paths(config):
        assert (pod_root / path.lstrip("/")).exists(), f"{path} is named in regproxy.yaml but no volume provides it"


def test_regproxy_loads_the_shipped_config_in_the_pod(pod_root: Path, config: Manifest, container: Manifest) -> None:
    loaded = load_in_pod(pod_root, config, container)
    assert str(loaded.listen) == config["listen"]
    assert loaded.admin_listen is not None
    assert str(loaded.admin_listen) == config["admin"]["listen"]
    assert loaded.workers == math.ceil(cpu_quantity(container["resources"]["limits"]["cpu"]))
    assert loaded.limits.shutdown_timeout == shutdown_timeout(config)


def test_regproxy_compiles_the_shipped_policies_in_the_pod(
    pod_root: Path, config: Manifest, container: Manifest
) -> None:
    loaded = load_in_pod(pod_root, config, container)
    assert loaded.policies is not None
    files = read_policy_files(loaded.policies)
    shipped = set(the("ConfigMap", "regproxy-policies")["data"])
    assert set(files) == shipped, "kubelet's hidden ..data entries must not be read as policies"
    policy_set = compile_policy_set(files, loaded.dialects, generation=1)
    assert {s.id.partition("#")[0] for s in policy_set.statements} == {"base-images.yaml", "team-a.yaml"}


def test_a_configmap_edit_reaches_regproxy_through_the_data_swap(
    pod_root: Path, config: Manifest, container: Manifest
) -> None:
    loaded = load_in_pod(pod_root, config, container)
    assert loaded.policies is not None
    before = read_policy_files(loaded.policies)
    data = dict(the("ConfigMap", "regproxy-policies")["data"])
    data["team-a.yaml"] = data["team-a.yaml"].replace("id: team-a-cleanup", "id: team-a-cleanup-edited")
    write_like_kubelet(loaded.policies, data, "2026_01_01_00_01_00.000000002")
    after = read_policy_files(loaded.policies)
    assert after["team-a.yaml"] != before["team-a.yaml"]
    assert "team-a-cleanup-edited" in after["team-a.yaml"]
