"""A registry token issuer for distribution's ``auth: token``, written for the tests.

The registry's validation is the real part (distribution 2.8, registry/auth/token): it trusts a
token whose ``iss`` is its configured ``issuer``, whose ``aud`` is its ``service``, that is inside
``nbf``/``exp`` (with a 60 s leeway) and whose signature verifies with a key it trusts. 2.8 trusts
a key two ways: the header's ``kid`` equal to the libtrust key id of a public key of a
certificate in ``rootcertbundle``, or an ``x5c`` chain that verifies to that bundle. This issuer
signs with ES256 and names its key by ``kid`` (:func:`libtrust_key_id`), or by ``x5c`` when asked.

The issuer itself is a plain ``http.server`` on loopback in a thread of the test process:
``GET /token?service=…&scope=…&scope=…`` with HTTP Basic, the Docker token-auth flow. It grants
every requested action to a known, unrevoked account, records every request (so a test can count
token fetches per scope), and can revoke an account or shorten the tokens' lifetime.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pki import Issued


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """libtrust's key id: SHA-256 of the PKIX DER, first 240 bits, base32, in groups of 4 by ``:``."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass
class IssuedRequest:
    account: str
    service: str
    scopes: tuple[str, ...]
    status: int


@dataclass
class TokenIssuer:
    """``TokenIssuer(workdir, service="registry", issuer="test-issuer").start()``; ``stop()``."""

    workdir: Path
    service: str = "upstream-registry"
    issuer: str = "regproxy-test-issuer"
    accounts: dict[str, str] = field(default_factory=lambda: {"svc": "svc-secret"})
    lifetime: int = 300
    use_x5c: bool = False
    tls: Issued | None = None  # serve HTTPS with this certificate (PEM files)
    revoked: set[str] = field(default_factory=set)
    requests: list[IssuedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regproxy test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rootcertbundle = self.workdir / "token-issuer.pem"
        self.rootcertbundle.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what the registry is told ---------------------------------------------------------
    @property
    def realm(self) -> str:
        assert self._server is not None, "not started"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/token"

    def registry_auth(self) -> dict[str, dict[str, str]]:
        """The ``auth:`` section of distribution's config that trusts this issuer."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.rootcertbundle),
            }
        }

    # -- the test's handles ----------------------------------------------------------------
    def revoke(self, account: str) -> None:
        with self._lock:
            self.revoked.add(account)

    def fetches(self, scope: str | None = None) -> list[IssuedRequest]:
        """Granted token requests so far (those that asked for ``scope``, when given)."""
        with self._lock:
            granted = [r for r in self.requests if r.status == 200]
        return [r for r in granted if scope is None or scope in r.scopes]

    def sign(self, account: str, scopes: tuple[str, ...], *, lifetime: int | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": account,
            "aud": self.service,
            "iat": now,
            "nbf": now - 1,
            "exp": now + (self.lifetime if lifetime is None else lifetime),
            "jti": uuid.uuid4().hex,
            "access": [_access(scope) for scope in scopes if scope.count(":") >= 2],
        }
        headers: dict[str, object]
        if self.use_x5c:
            der = self.certificate.public_bytes(serialization.Encoding.DER)
            headers = {"x5c": [base64.b64encode(der).decode()]}
        else:
            headers = {"kid": libtrust_key_id(self.key.public_key())}
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)

    # -- the server ------------------------------------------------------------------------
    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls.cert), str(self.tls.key))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        scopes = tuple(s for value in query.get("scope", []) for s in value.split(" ") if s)
        service = query.get("service", [""])[0]
        account = _basic_user(handler.headers.get("Authorization", ""), self.accounts)
        with self._lock:
            refused = parts.path != "/token" or account is None or account in self.revoked
            status = 401 if refused else 200
            self.requests.append(IssuedRequest(account or "", service, scopes, status))
        if refused:
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "credential refused"}]}).encode()
            _send(handler, 401, body, {"WWW-Authenticate": 'Basic realm="token-issuer"'})
            return
        assert account is not None
        token = self.sign(account, scopes)
        issued = datetime.datetime.now(datetime.UTC).isoformat()
        body = json.dumps(
            {"token": token, "access_token": token, "expires_in": self.lifetime, "issued_at": issued}
        ).encode()
        _send(handler, 200, body, {})


def _access(scope: str) -> dict[str, object]:
    kind, rest = scope.split(":", 1)
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


def _basic_user(header: str, accounts: dict[str, str]) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user if accounts.get(user) == password else None


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
