"""Start-up loads everything a setting names before anything listens; a failure names the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regproxy.errors import ConfigError
from regproxy.server.startup import check_audit_path, load_store, prepare
from regproxy.settings.parse import parse_settings


def test_an_audit_path_is_created_for_appending(tmp_path: Path) -> None:
    check_audit_path(str(tmp_path / "audit.log"))
    assert (tmp_path / "audit.log").exists()
    check_audit_path("-")
    check_audit_path("")


def test_an_audit_path_that_cannot_be_opened_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        check_audit_path(str(tmp_path / "missing-dir" / "audit.log"))
    assert info.value.key == "audit.path"


def test_a_fifo_is_left_to_its_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    check_audit_path(str(fifo))  # opening it here would block until a reader came


def test_a_refused_policy_set_names_the_policies_key(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bad.yaml").write_text("version: 1\nstatements:\n  - id: x\n    effect: maybe\n")
    with pytest.raises(ConfigError) as info:
        load_store(parse_settings({"policies": str(tmp_path / "policies")}, {}))
    assert info.value.key == "policies" and "refused" in str(info.value)


def test_a_broken_identities_file_names_the_identities_key(tmp_path: Path) -> None:
    (tmp_path / "ids.yaml").write_text("users: [\n")
    with pytest.raises(ConfigError) as info:
        load_store(parse_settings({"identities": str(tmp_path / "ids.yaml")}, {}))
    assert info.value.key == "identities"


def test_prepare_loads_a_working_set(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    config = parse_settings({"policies": str(tmp_path / "policies"), "audit": {"path": str(tmp_path / "a.log")}}, {})
    prepared = prepare(config)
    assert prepared.keys is None and prepared.tls is None
    assert prepared.store is not None
