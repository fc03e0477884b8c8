"""A setting that points at an unusable file stops the start with one line naming the key and
the file, exit status 2, and nothing after it: no traceback, no "Unclosed client session".
The same with one process and with a supervisor of two workers (it checks before starting any).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.processes import free_port
from tests.support.proxy import EXAMPLES, ROOT
from tests.support.tls import make_pair

pytestmark = pytest.mark.integration

Setup = Callable[[Path, dict[str, Any]], str]  # breaks one setting; returns the path to name


def tls_mismatch(d: Path, config: dict[str, Any]) -> str:
    cert, _ = make_pair("one")
    _, key = make_pair("two")
    (d / "tls.crt").write_bytes(cert)
    (d / "tls.key").write_bytes(key)
    config["tls"] = {"cert": str(d / "tls.crt"), "key": str(d / "tls.key")}
    return str(d / "tls.key")


def tls_cert_not_pem(d: Path, config: dict[str, Any]) -> str:
    _, key = make_pair("one")
    (d / "tls.crt").write_text("not a certificate\n")
    (d / "tls.key").write_bytes(key)
    config["tls"] = {"cert": str(d / "tls.crt"), "key": str(d / "tls.key")}
    return str(d / "tls.crt")


def tls_key_unreadable(d: Path, config: dict[str, Any]) -> str:
    cert, _ = make_pair("one")
    (d / "tls.crt").write_bytes(cert)
    (d / "tls.key").mkdir()  # exists, cannot be read as a file
    config["tls"] = {"cert": str(d / "tls.crt"), "key": str(d / "tls.key")}
    return str(d / "tls.key")


def signing_key_not_pem(d: Path, config: dict[str, Any]) -> str:
    (d / "signing.pem").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    config["tokens"] = {"signing_key": str(d / "signing.pem")}
    return str(d / "signing.pem")


def verification_key_missing(d: Path, config: dict[str, Any]) -> str:
    signing_key_not_pem(d, config)
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (d / "signing.pem").write_bytes(pem)
    config["tokens"]["verification_keys"] = [str(d / "gone.pem")]
    return str(d / "gone.pem")


def identities_broken(d: Path, config: dict[str, Any]) -> str:
    (d / "identities.yaml").write_text("users:\n  - name: [unterminated\n")
    return str(d / "identities.yaml")


def policies_broken(d: Path, config: dict[str, Any]) -> str:
    (d / "policies" / "bad.yaml").write_text(
        "version: 1\nstatements:\n  - id: x\n    effect: allow\n    principals: [user:a]\n"
        "    actions: [pul]\n    resources: [a]\n"
    )
    return str(d / "policies")  # the key names the directory; each error logged above it with file and line


def audit_path_unwritable(d: Path, config: dict[str, Any]) -> str:
    config["audit"] = {"path": str(d / "no-such-dir" / "audit.log")}
    return str(d / "no-such-dir" / "audit.log")


CASES: dict[str, tuple[Setup, str]] = {
    "tls-key-mismatch": (tls_mismatch, "tls.key"),
    "tls-cert-not-pem": (tls_cert_not_pem, "tls.cert"),
    "tls-key-unreadable": (tls_key_unreadable, "tls.key"),
    "signing-key-not-pem": (signing_key_not_pem, "tokens.signing_key"),
    "verification-key-missing": (verification_key_missing, "tokens.verification_keys[0]"),
    "identities-broken": (identities_broken, "identities"),
    "policies-broken": (policies_broken, "policies"),
    "audit-path-unwritable": (audit_path_unwritable, "audit.path"),
}


def serve(d: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (d / "regproxy.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGPROXY_")}
    return subprocess.run(
        [sys.executable, "-m", "regproxy", "serve", "--config", str(d / "regproxy.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def base_config(d: Path, workers: int) -> dict[str, Any]:
    shutil.copytree(EXAMPLES / "policies", d / "policies")
    shutil.copyfile(EXAMPLES / "identities.yaml", d / "identities.yaml")
    return {
        "listen": f"127.0.0.1:{free_port()}",
        "upstream": {"url": "http://127.0.0.1:9"},
        "identities": str(d / "identities.yaml"),
        "policies": str(d / "policies"),
        "admin": {"listen": f"127.0.0.1:{free_port()}"},
        "audit": {"path": str(d / "audit.log")},
        "workers": workers,
    }


def assert_one_clean_error(result: subprocess.CompletedProcess[str], key: str, path: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"cannot start: config `{key}`" in output, output
    assert path in output, output
    assert "Traceback" not in output and "Unclosed" not in output, output
    last = [line for line in output.splitlines() if line.strip()][-1]
    assert "cannot start" in last, output  # nothing after the error


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_file_names_its_key_and_path(tmp_path: Path, case: str, workers: int) -> None:
    config = base_config(tmp_path, workers)
    setup, key = CASES[case]
    path = setup(tmp_path, config)
    result = serve(tmp_path, config)
    assert_one_clean_error(result, key, path)
    if case == "policies-broken":
        assert "bad.yaml:" in result.stderr and "unknown action `pul`" in result.stderr, result.stderr


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
@pytest.mark.parametrize("key", ["listen", "admin.listen"])
def test_an_address_in_use_names_its_key(tmp_path: Path, key: str, workers: int) -> None:
    config = base_config(tmp_path, workers)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        if key == "listen":
            config["listen"] = address
        else:
            config["admin"] = {"listen": address}
        assert_one_clean_error(serve(tmp_path, config), key, address)
