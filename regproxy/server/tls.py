"""TLS for the public listener, with certificate rotation and no restart.

The listener is given one SSL context for its whole life. That context's SNI callback (OpenSSL
calls it for every handshake, with or without a server name) moves each new connection onto
the context built from the newest *good* pair: a rotated ``tls.cert``/``tls.key`` (cert-manager
rewriting the files, a Kubernetes Secret swapping its ``..data`` symlink) is used by the next
handshake, and connections already open keep the pair they started with. A pair that does
not load (unreadable, not PEM, a key that does not match the certificate, one file rewritten
and not yet the other) is refused, logged with the keys that name the files, and the pair in
force stays. Changes are noticed by the same settled fingerprint polling as policies.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from regproxy.errors import ConfigError
from regproxy.reload import Settle, fingerprint

log = logging.getLogger("regproxy.tls")


def load_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Blocking: a server context for the pair; a :class:`ConfigError` naming the key and file."""
    cert_pem = _read("tls.cert", cert)
    key_pem = _read("tls.key", key)
    try:
        x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise ConfigError("tls.cert", f"`{cert}` is not a PEM certificate") from None
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError("tls.key", f"`{key}` is an encrypted private key; regproxy needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError("tls.key", f"`{key}` is not a PEM private key") from None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ConfigError("tls.key", f"`{key}` does not match the certificate in tls.cert `{cert}`") from None
        raise ConfigError("tls.cert", f"`{cert}` with tls.key `{key}` cannot be used: {exc.reason}") from None
    except OSError as exc:  # replaced between the checks above and this load
        raise ConfigError("tls.cert", f"cannot read `{exc.filename}`: {exc.strerror}") from None
    return ctx


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(name, f"cannot read `{path}`: {exc.strerror}") from None


class RotatingTls:
    """The listener's context and the pair in force; :meth:`watch` keeps it current."""

    def __init__(
        self,
        cert: Path,
        key: Path,
        *,
        settle: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cert = cert
        self.key = key
        self.clock = clock
        self.settle = Settle(settle)
        self.rotations = 0
        self.refused = 0
        self._seen = self._fingerprint()
        self.current = load_context(cert, key)  # start-up: errors stop the start
        self.listener = load_context(cert, key)
        self.listener.sni_callback = self._select

    def _fingerprint(self) -> tuple[object, ...]:
        return fingerprint([self.cert, self.key])

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        current = self.current
        if connection.context is not current:
            connection.context = current

    def reload(self) -> bool:
        """Blocking: load the pair on disk; swap it in, or keep the one in force and say why."""
        before = self._fingerprint()
        try:
            ctx = load_context(self.cert, self.key)
        except ConfigError as exc:
            if self._fingerprint() != before:
                return False  # caught mid-rotation: look again once the files settle
            self._seen = before  # refused once; the next change is looked at again
            self.refused += 1
            log.error("TLS pair refused, the one in force stays: %s", exc)
            return False
        if self._fingerprint() != before:
            log.info("TLS files changed while loading them; waiting until they settle")
            return False
        self._seen = before
        self.current = ctx
        self.rotations += 1
        log.info("TLS pair from tls.cert `%s` and tls.key `%s` in force for new connections", self.cert, self.key)
        return True

    def poll(self) -> bool:
        """Blocking: one look at the files; reload once they changed and have been quiet."""
        if self.settle.due(self._fingerprint(), self._seen, self.clock()):
            self.reload()
            return True
        return False

    async def watch(self) -> None:
        """Poll until cancelled (an owner cancels it at shutdown)."""
        while True:
            await asyncio.sleep(self.settle.poll_interval)
            try:
                await asyncio.to_thread(self.poll)
            except OSError:
                continue
