"""Everything a setting points at is loaded once before anything listens, and a failure names
the setting and the file: ``config `tls.key`: `/etc/regproxy/tls.key` does not match the
certificate in tls.cert `/etc/regproxy/tls.crt```. The caller prints the one line and exits;
nothing has been started yet, so nothing is left open to complain at exit.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass

from regproxy.config import Config
from regproxy.errors import ConfigError, IdentityFileError, PolicyError
from regproxy.identity.keys import KeySet
from regproxy.policy.load import PolicySetInvalid
from regproxy.policycode.suite import PolicyTestsFailed
from regproxy.reload import Store
from regproxy.server.app import initial_store
from regproxy.server.tls import RotatingTls
from regproxy.server.tokens import load_keyset

log = logging.getLogger("regproxy")


@dataclass(frozen=True, slots=True)
class Prepared:
    store: Store
    keys: KeySet | None
    tls: RotatingTls | None


def prepare(config: Config) -> Prepared:
    """Blocking: load TLS, policies, identities, token keys and check the audit path.

    Raises :class:`ConfigError` naming the key (and, in its message, the file)."""
    tls = None
    if config.tls.cert is not None and config.tls.key is not None:
        tls = RotatingTls(config.tls.cert, config.tls.key, settle=config.reload_settle)
    store = load_store(config)
    keys = load_keyset(config)
    check_audit_path(config.audit.path)
    return Prepared(store, keys, tls)


def load_store(config: Config) -> Store:
    try:
        return initial_store(config)
    except PolicySetInvalid as exc:
        for error in exc.errors:
            log.error("policies: %s", error)
        raise ConfigError(
            "policies", f"the policy set in `{config.policies}` is refused: {len(exc.errors)} error(s), above"
        ) from None
    except PolicyTestsFailed as exc:
        for failure in exc.failures:
            log.error("policy test failed: %s", failure)
        raise ConfigError(
            "policy_tests", f"the policy set in `{config.policies}` fails {len(exc.failures)} test(s), above"
        ) from None
    except PolicyError as exc:
        raise ConfigError("policies", str(exc)) from None
    except IdentityFileError as exc:
        raise ConfigError("identities", str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError("policies", f"a file in `{config.policies}` or `{config.identities}` is not UTF-8") from None
    except OSError as exc:
        key = "identities"
        if config.policies is not None and str(exc.filename or "").startswith(str(config.policies)):
            key = "policies"
        raise ConfigError(key, f"cannot read `{exc.filename}`: {exc.strerror}") from None


def check_audit_path(path: str) -> None:
    """The audit file can be appended to (a FIFO or stdout is checked by its writer)."""
    if path in ("", "-"):
        return
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError("audit.path", f"cannot use `{path}`: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    except OSError as exc:
        raise ConfigError("audit.path", f"cannot open `{path}` for appending: {exc.strerror}") from None
    os.close(fd)


__all__ = ["Prepared", "check_audit_path", "load_store", "prepare"]
