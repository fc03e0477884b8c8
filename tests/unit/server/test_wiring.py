"""The composition root builds the authenticator chain once, in order, and the upload-session
key replicas share."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.identity.basic import BasicAuthenticator
from regproxy.identity.sts import StsAuthenticator
from regproxy.identity.token_auth import TokenAuthenticator
from regproxy.server.app import initial_store
from regproxy.server.tokens import load_keyset
from regproxy.server.wiring import StartedOidc, upload_session_key, wire
from regproxy.settings.files import load_config
from tests.support.tokens import write_ec_key


def config_with(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "policies").mkdir(exist_ok=True)
    path = tmp_path / "c.yaml"
    path.write_text(f"policies: policies\naudit:\n  path: ''\n{extra}")
    return path


def test_the_chain_is_tokens_then_oidc_then_basic(tmp_path: Path) -> None:
    key = write_ec_key(tmp_path / "k.pem")
    config = load_config(
        config_with(
            tmp_path,
            f"tokens:\n  signing_key: {key}\noidc:\n  issuers:\n    - {{issuer: https://ci.example, audience: regproxy}}\n",
        ),
        env={},
    )
    wiring = wire(config, initial_store(config), load_keyset(config))
    kinds = [type(a) for a in wiring.authentication.chain]
    assert kinds == [StsAuthenticator, TokenAuthenticator, StartedOidc, BasicAuthenticator]
    assert wiring.token_realm == f"{config.public_url}/token" and len(wiring.lifecycles) == 1


def test_without_a_signing_key_basic_only_and_no_token_service(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, ""), env={})
    wiring = wire(config, initial_store(config), None)
    assert [type(a) for a in wiring.authentication.chain] == [BasicAuthenticator]
    assert wiring.token_service is None and wiring.token_realm is None


def test_replicas_with_one_signing_key_share_the_upload_session_key(tmp_path: Path) -> None:
    key = write_ec_key(tmp_path / "k.pem")
    config = load_config(config_with(tmp_path, f"tokens:\n  signing_key: {key}\n"), env={})
    first, second = load_keyset(config), load_keyset(config)
    assert upload_session_key(first) == upload_session_key(second) != upload_session_key(None)
    other = write_ec_key(tmp_path / "other.pem")
    (tmp_path / "c.yaml").write_text(f"policies: policies\ntokens:\n  signing_key: {other}\n")
    assert upload_session_key(load_keyset(load_config(tmp_path / "c.yaml", env={}))) != upload_session_key(first)
    assert upload_session_key(None) == upload_session_key(None)  # the workers of one process tree


def test_a_worker_takes_its_supervisors_host_key() -> None:
    """Workers are new interpreters: each would make its own key, and an upload opened on one
    worker would be unknown to the next; the supervisor's key travels to them instead."""
    from regproxy.server.wiring import adopt_host_key, host_key  # noqa: PLC0415

    mine = host_key()
    try:
        adopt_host_key(b"s" * 32)
        assert upload_session_key(None) == b"s" * 32 == host_key()
        with pytest.raises(ValueError, match="16 bytes"):
            adopt_host_key(b"short")
    finally:
        adopt_host_key(mine)
