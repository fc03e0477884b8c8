"""deploy/systemd: a unit systemd accepts without a warning, hardened, and consistent with the
host config beside it.

`systemd-analyze verify` checks that every Exec*= command exists and is executable, so it runs
on a copy of the unit whose ExecStart points at a stub (regproxy is not installed at
/usr/local/bin here); everything else in the copy is the shipped text. `systemd-analyze
security --offline` scores the sandboxing the same way `systemctl` would on a host.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from regproxy.settings.files import load_config

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "deploy" / "systemd"
UNIT = SYSTEMD / "regproxy.service"
HOST_CONFIG = SYSTEMD / "regproxy.yaml"
BINARY = "/usr/local/bin/regproxy"
CREDENTIALS = "/run/credentials/regproxy.service/"
DEFAULT_SHUTDOWN_TIMEOUT = 30.0
# `security` reports exposure on a 0-10 scale and takes --threshold on 0-100; 2.0 is the top of
# the "OK" band, where a network service with no privileges but one port below 1024 belongs.
EXPOSURE_THRESHOLD = 20


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; repeated keys kept (systemd accumulates them)."""
    out: list[tuple[str, str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), "keep unit lines unbroken: easier to grep and to test"
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        out.append((section, key.strip(), value.strip()))
    return out


ENTRIES = parse_unit(UNIT.read_text())


def values(key: str, section: str = "Service") -> list[str]:
    """Every value of a list-like setting; an empty assignment resets the list, as in systemd."""
    out: list[str] = []
    for s, k, v in ENTRIES:
        if (s, k) == (section, key):
            out = [] if not v else [*out, v]
    return out


def value(key: str, section: str = "Service") -> str:
    found = values(key, section)
    assert found, f"{section}.{key} is not set"
    return found[-1]


def seconds(text: str) -> float:
    """systemd time spans as used here: `45`, `45s`, `1min 30s`."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text):
        total += float(number) * units[unit]
    return total


@pytest.fixture(scope="module")
def host_config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(HOST_CONFIG.read_text())
    return data


@pytest.fixture
def stubbed_unit(tmp_path: Path) -> Path:
    stub = tmp_path / "bin" / "regproxy"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert text.count(f"ExecStart={BINARY} ") == 1
    unit = tmp_path / "regproxy.service"
    unit.write_text(text.replace(f"ExecStart={BINARY} ", f"ExecStart={stub} "))
    return unit


def test_systemd_analyze_verify_accepts_the_unit_without_warnings(systemd_analyze: str, stubbed_unit: Path) -> None:
    done = subprocess.run(
        [systemd_analyze, "verify", "--man=no", "--recursive-errors=no", str(stubbed_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    about_unit = [line for line in output.splitlines() if "regproxy" in line]
    assert done.returncode == 0, output
    assert about_unit == [], "\n".join(about_unit)


def test_systemd_analyze_security_rates_the_sandbox_ok(systemd_analyze: str, stubbed_unit: Path) -> None:
    done = subprocess.run(
        [
            systemd_analyze,
            "security",
            "--offline=yes",
            f"--threshold={EXPOSURE_THRESHOLD}",
            "--no-pager",
            str(stubbed_unit),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    overall = [line for line in done.stdout.splitlines() if "Overall exposure level" in line]
    assert done.returncode == 0, "\n".join(overall) or done.stdout + done.stderr


def test_runs_the_contracted_command_as_its_own_user() -> None:
    assert value("Type") in {"exec", "simple"}
    assert value("ExecStart") == f"{BINARY} serve --config /etc/regproxy/regproxy.yaml"
    assert value("User") == "regproxy"
    assert value("Group") == "regproxy"
    assert "DynamicUser" not in {k for _, k, _ in ENTRIES}
    sysusers = (SYSTEMD / "regproxy.sysusers").read_text()
    assert re.search(r"^u\s+regproxy\s", sysusers, re.MULTILINE), "the unit's user is not created"


def test_reload_is_sighup_and_stop_is_sigterm() -> None:
    assert value("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert value("KillSignal") == "SIGTERM"
    assert value("Restart") == "on-failure"


def test_stop_timeout_exceeds_the_shutdown_deadline(host_config: dict[str, Any]) -> None:
    deadline = float(host_config.get("limits", {}).get("shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT))
    # past TimeoutStopSec systemd sends SIGKILL: in-flight uploads must have had their deadline
    assert seconds(value("TimeoutStopSec")) > deadline


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
    ],
    ids=lambda v: str(v),
)
def test_hardening(key: str, expected: str) -> None:
    assert value(key) == expected


def test_configuration_is_read_only_and_nothing_else_is_writable() -> None:
    assert "/etc/regproxy" in " ".join(values("ReadOnlyPaths")).split()
    assert values("ReadWritePaths") == []
    assert set(value("RestrictAddressFamilies").split()) <= {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert int(value("LimitNOFILE").split(":")[0]) >= 16384


def test_capabilities_are_exactly_what_the_listen_port_needs(host_config: dict[str, Any]) -> None:
    ports = [int(host_config["listen"].rpartition(":")[2]), int(host_config["admin"]["listen"].rpartition(":")[2])]
    needed = {"CAP_NET_BIND_SERVICE"} if min(ports) < 1024 else set()
    assert set(" ".join(values("CapabilityBoundingSet")).split()) == needed
    assert set(" ".join(values("AmbientCapabilities")).split()) == needed


def test_every_credential_the_config_reads_is_loaded_by_the_unit(host_config: dict[str, Any]) -> None:
    loaded = {v.split(":", 1)[0] for v in values("LoadCredential")}
    wanted = set(re.findall(re.escape(CREDENTIALS) + r"([\w.-]+)", HOST_CONFIG.read_text()))
    assert wanted, "the host config reads its secrets through LoadCredential="
    assert wanted == loaded


def test_audit_goes_to_the_journal_or_the_logs_directory(host_config: dict[str, Any]) -> None:
    path = host_config.get("audit", {}).get("path", "-")
    logs = value("LogsDirectory")
    assert path == "-" or path.startswith(f"/var/log/{logs}/"), "ProtectSystem=strict: nowhere else is writable"


def absolute_paths(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [p for v in node.values() for p in absolute_paths(v)]
    if isinstance(node, list):
        return [p for v in node for p in absolute_paths(v)]
    return [node] if isinstance(node, str) and node.startswith("/") else []


def rebase(node: Any, root: Path) -> Any:
    if isinstance(node, dict):
        return {k: rebase(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [rebase(v, root) for v in node]
    return f"{root}{node}" if isinstance(node, str) and node.startswith("/") else node


def test_regproxy_loads_the_host_config(tmp_path: Path, host_config: dict[str, Any]) -> None:
    # every path moved below tmp_path and given a placeholder: the loader checks that they exist
    for path in absolute_paths(host_config):
        target = tmp_path / path.lstrip("/")
        if path == host_config["policies"]:
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("placeholder\n")
    config_file = tmp_path / "regproxy.yaml"
    config_file.write_text(yaml.safe_dump(rebase(host_config, tmp_path)))
    loaded = load_config(config_file, env={})
    assert str(loaded.listen) == host_config["listen"]
    assert loaded.tls.cert is not None
    assert loaded.tls.key is not None
    assert loaded.workers == host_config["workers"]
    assert loaded.limits.shutdown_timeout < seconds(value("TimeoutStopSec"))
