"""Settings: file → frozen dataclasses. Flags > ``REGPROXY_*`` environment > file > defaults.

Every key of the YAML file has an environment variable: the path upper-cased and joined by
``_`` under ``REGPROXY_`` (``upstream.url`` → ``REGPROXY_UPSTREAM_URL``). A bad value is a
:class:`ConfigError` naming the key, at start-up. Relative paths in the file are relative to
the file's own directory.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from regproxy.errors import ConfigError
from regproxy.oci import grammar
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.settings import SettingError, dialect_context
from regproxy.policy.dialects.settings import config_keys as dialect_config_keys


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    url: str = "http://127.0.0.1:5001"
    auth: str = "none"  # none | basic | bearer
    username: str = ""
    password: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    pool_size: int = 256
    ca_file: Path | None = None  # a private CA for an https:// upstream
    client_cert: Path | None = None  # mTLS towards the upstream: certificate (PEM) ...
    client_key: Path | None = None  # ... and its key (PEM)
    probe_interval: float = 300.0  # seconds between capability probes of the upstream; 0 = off


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class TokensConfig:
    signing_key: Path | None = None
    verification_keys: tuple[Path, ...] = ()
    lifetime: int = 300
    max_lifetime: int = 3600
    refresh_lifetime: int = 7 * 86400
    issuer: str = ""  # defaults to external_url


@dataclass(frozen=True, slots=True)
class OidcIssuer:
    issuer: str
    audience: str
    jwks_uri: str | None = None
    username_claim: str = "sub"
    kind: str = "service-account"
    name_prefix: str = ""
    groups_claim: str | None = None
    groups: tuple[str, ...] = ()
    required_claims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    authorized_parties: tuple[str, ...] = ()
    allow_multiple_audiences: bool = False


@dataclass(frozen=True, slots=True)
class AuditConfig:
    path: str = "-"  # "-" is stdout; "" turns the audit log off
    queue_size: int = 10000


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    header_timeout: float = 10.0
    max_header_size: int = 16384
    max_connections: int = 1024
    keepalive_timeout: float = 75.0
    requests_per_second: float = 0.0  # per principal; 0 = unlimited
    burst: int = 0
    concurrent_requests: int = 0  # per principal; 0 = unlimited
    shutdown_timeout: float = 30.0
    max_token_body: int = 8192  # POST /token form and POST /credentials JSON
    max_manifest_size: int = 4 * 1024 * 1024  # distribution's own cap
    body_idle_timeout: float = 60.0  # a streamed body (either direction) that stalls this long is cut
    max_trailer_size: int = 8192  # chunked trailers, all lines together
    max_requests_per_connection: int = 10000
    login_free_failures: int = 5  # failed logins per user name before back-off
    login_free_failures_per_source: int = 20  # per source address (many users may share one: NAT)
    login_backoff: float = 1.0  # first back-off; it doubles with each further failure
    login_backoff_max: float = 300.0
    login_failure_window: float = 900.0  # failures older than this are forgotten


@dataclass(frozen=True, slots=True)
class Config:
    listen: HostPort = HostPort("127.0.0.1", 5000)
    external_url: str = ""  # defaults to http(s)://listen
    service: str = "regproxy"
    upstream: UpstreamConfig = UpstreamConfig()
    tls: TlsConfig = TlsConfig()
    identities: Path | None = None
    policies: Path | None = None
    public: tuple[str, ...] = ()
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    forwarded_headers: bool = False  # set X-Forwarded-For/-Proto/-Host towards the upstream
    admin_listen: HostPort | None = HostPort("127.0.0.1", 9100)
    audit: AuditConfig = AuditConfig()
    tokens: TokensConfig = TokensConfig()
    oidc: tuple[OidcIssuer, ...] = ()
    limits: LimitsConfig = LimitsConfig()
    dialects: DialectContext = field(default_factory=DialectContext)
    workers: int = 1
    reload_settle: float = 0.5  # seconds watched files must be quiet before a reload reads them
    policy_tests: Path | None = None  # decision tests every policy set must pass (the policies dir: beside it)
    shadow_policies: Path | None = None  # a candidate set deciding every request without effect
    log_format: str = "text"
    log_level: str = "info"

    @property
    def public_url(self) -> str:
        if self.external_url:
            return self.external_url.rstrip("/")
        scheme = "https" if self.tls.cert else "http"
        return f"{scheme}://{self.listen}"


_KEYS: dict[str, str] = {  # dotted key -> kind
    "listen": "hostport",
    "external_url": "url",
    "service": "str",
    "upstream.url": "url",
    "upstream.auth": "str",
    "upstream.username": "str",
    "upstream.password": "str",
    "upstream.password_file": "path",
    "upstream.connect_timeout": "float",
    "upstream.read_timeout": "float",
    "upstream.pool_size": "int",
    "upstream.ca_file": "path",
    "upstream.client_cert": "path",
    "upstream.client_key": "path",
    "upstream.probe_interval": "float",
    "tls.cert": "path",
    "tls.key": "path",
    "identities": "path",
    "policies": "path",
    "public": "list",
    "trusted_proxies": "list",
    "forwarded_headers": "bool",
    "admin.listen": "hostport",
    "audit.path": "str",
    "audit.queue_size": "int",
    "tokens.signing_key": "path",
    "tokens.verification_keys": "list",
    "tokens.lifetime": "int",
    "tokens.max_lifetime": "int",
    "tokens.refresh_lifetime": "int",
    "tokens.issuer": "str",
    "oidc.issuers": "any",
    "limits.header_timeout": "float",
    "limits.max_header_size": "int",
    "limits.max_connections": "int",
    "limits.keepalive_timeout": "float",
    "limits.requests_per_second": "float",
    "limits.burst": "int",
    "limits.concurrent_requests": "int",
    "limits.shutdown_timeout": "float",
    "limits.max_token_body": "int",
    "limits.max_manifest_size": "int",
    "limits.body_idle_timeout": "float",
    "limits.max_trailer_size": "int",
    "limits.max_requests_per_connection": "int",
    "limits.login_free_failures": "int",
    "limits.login_free_failures_per_source": "int",
    "limits.login_backoff": "float",
    "limits.login_backoff_max": "float",
    "limits.login_failure_window": "float",
    **dict.fromkeys(dialect_config_keys(), "any"),  # each dialect's own section: policy/dialects/settings.py
    "workers": "int",
    "reload.settle": "float",
    "policy_tests": "path-or-bool",
    "shadow_policies": "path",
    "log_format": "str",
    "log_level": "str",
}


def env_name(key: str) -> str:
    return "REGPROXY_" + key.replace(".", "_").upper()


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in _KEYS:
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def load_config(
    path: Path | None, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Read the file (if any), apply ``REGPROXY_*`` variables, then flag overrides."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError("--config", f"cannot read `{path}`: {exc.strerror}") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError("--config", f"`{path}` is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("--config", f"`{path}` must be a mapping")
        raw = _flatten(loaded)
        base = path.resolve().parent
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(key, "unknown setting")
    values: dict[str, Any] = {k: (v, "file") for k, v in raw.items()}
    for key in _KEYS:
        name = env_name(key)
        if name in env:
            values[key] = (env[name], "env")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = (value, "flag")
    parsed = {key: _convert(key, value, origin, base) for key, (value, origin) in values.items()}
    return _build(parsed)


def _convert(key: str, value: Any, origin: str, base: Path) -> Any:
    kind = _KEYS[key]
    try:
        if kind == "str":
            if not isinstance(value, str | int | float):
                raise ValueError("must be a string")
            return str(value)
        if kind == "int":
            if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
                raise ValueError(f"`{value}` is not a whole number")
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError("must be a number")
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"`{value}` is not a number") from None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("must be true or false")
        if kind == "path-or-bool":
            if isinstance(value, bool) or str(value).lower() in ("true", "false", "yes", "no"):
                return value if isinstance(value, bool) else str(value).lower() in ("true", "yes")
            kind = "path"
        if kind == "path":
            if not isinstance(value, str) or not value:
                raise ValueError("must be a path")
            p = Path(value)
            return p if p.is_absolute() or origin != "file" else base / p
        if kind == "list":
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()] if origin != "file" else [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("must be a list of strings")
            return tuple(value)
        if kind == "url":
            text = str(value)
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
            if parts.query or parts.fragment:
                raise ValueError("must not have a query or fragment")
            return text.rstrip("/")
        if kind == "hostport":
            return parse_hostport(str(value))
        return value
    except (ValueError, TypeError) as exc:
        where = {"env": f" (from {env_name(key)})", "flag": " (from the command line)"}.get(origin, "")
        raise ConfigError(key, f"{exc}{where}") from None


def parse_hostport(text: str) -> HostPort:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"`{text}` must be HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - an explicit ":PORT" means all addresses
    return HostPort(host, int(port))


def _build(v: dict[str, Any]) -> Config:
    auth = v.get("upstream.auth", "none")
    if auth not in ("none", "basic", "bearer"):
        raise ConfigError("upstream.auth", "must be none, basic or bearer")
    password = v.get("upstream.password", "")
    if "upstream.password_file" in v:
        try:
            password = v["upstream.password_file"].read_text().strip()
        except OSError as exc:
            raise ConfigError("upstream.password_file", f"cannot read: {exc.strerror}") from None
    if auth != "none" and not (v.get("upstream.username") and password):
        raise ConfigError("upstream.username", f"upstream.auth `{auth}` needs a username and a password")
    _check_upstream_tls(v)
    if v.get("upstream.probe_interval", 0) < 0:
        raise ConfigError("upstream.probe_interval", "must be 0 (off) or a number of seconds")
    if ("tls.cert" in v) != ("tls.key" in v):
        raise ConfigError("tls.key" if "tls.cert" in v else "tls.cert", "tls needs both cert and key")
    for key in ("tls.cert", "tls.key", "identities", "tokens.signing_key"):
        if key in v and not v[key].exists():
            raise ConfigError(key, f"`{v[key]}` does not exist")
    if "policies" in v and not v["policies"].is_dir():
        raise ConfigError("policies", f"`{v['policies']}` is not a directory")
    policy_tests = _policy_tests(v)
    try:
        trusted = tuple(ipaddress.ip_network(n, strict=False) for n in v.get("trusted_proxies", ()))
    except ValueError as exc:
        raise ConfigError("trusted_proxies", str(exc)) from None
    for key, lo in (
        ("workers", 1),
        ("audit.queue_size", 1),
        ("limits.max_connections", 1),
        ("limits.max_header_size", 1024),
        ("tokens.lifetime", 1),
        ("upstream.pool_size", 1),
        ("limits.max_token_body", 1024),
        ("limits.max_manifest_size", 1024),
        ("limits.max_trailer_size", 0),
        ("limits.max_requests_per_connection", 1),
        ("limits.login_free_failures", 0),
        ("limits.login_free_failures_per_source", 0),
    ):
        if key in v and v[key] < lo:
            raise ConfigError(key, f"must be at least {lo}")
    for key in (
        "upstream.connect_timeout",
        "upstream.read_timeout",
        "limits.header_timeout",
        "limits.keepalive_timeout",
        "limits.shutdown_timeout",
        "limits.body_idle_timeout",
        "limits.login_backoff",
        "limits.login_backoff_max",
        "limits.login_failure_window",
    ):
        if key in v and v[key] <= 0:
            raise ConfigError(key, "must be positive")
    if v.get("reload.settle", 0.0) < 0:
        raise ConfigError("reload.settle", "must not be negative")
    if v.get("log_format", "text") not in ("text", "json"):
        raise ConfigError("log_format", "must be text or json")
    if v.get("log_level", "info").lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("log_level", "must be debug, info, warning or error")
    for pattern in v.get("public", ()):
        literal = pattern.replace("**", "a").replace("*", "a").replace("?", "a")
        if not grammar.is_name(literal):
            raise ConfigError("public", f"`{pattern}` is not a repository pattern")
    admin_listen = v.get("admin.listen", HostPort("127.0.0.1", 9100))
    listen = v.get("listen", HostPort("127.0.0.1", 5000))
    if admin_listen == listen:
        raise ConfigError("admin.listen", "must differ from `listen`: admin endpoints never share the public port")
    keys = v.get("tokens.verification_keys", ())
    return Config(
        listen=listen,
        external_url=v.get("external_url", ""),
        service=v.get("service", "regproxy"),
        upstream=UpstreamConfig(
            url=v.get("upstream.url", UpstreamConfig().url),
            auth=auth,
            username=v.get("upstream.username", ""),
            password=password,
            connect_timeout=v.get("upstream.connect_timeout", UpstreamConfig().connect_timeout),
            read_timeout=v.get("upstream.read_timeout", UpstreamConfig().read_timeout),
            pool_size=v.get("upstream.pool_size", UpstreamConfig().pool_size),
            ca_file=v.get("upstream.ca_file"),
            client_cert=v.get("upstream.client_cert"),
            client_key=v.get("upstream.client_key"),
            probe_interval=v.get("upstream.probe_interval", UpstreamConfig().probe_interval),
        ),
        tls=TlsConfig(v.get("tls.cert"), v.get("tls.key")),
        identities=v.get("identities"),
        policies=v.get("policies"),
        public=v.get("public", ()),
        trusted_proxies=trusted,
        forwarded_headers=v.get("forwarded_headers", False),
        admin_listen=admin_listen,
        audit=AuditConfig(v.get("audit.path", "-"), v.get("audit.queue_size", AuditConfig().queue_size)),
        tokens=TokensConfig(
            signing_key=v.get("tokens.signing_key"),
            verification_keys=tuple(Path(k) for k in keys),
            lifetime=v.get("tokens.lifetime", TokensConfig().lifetime),
            max_lifetime=v.get("tokens.max_lifetime", TokensConfig().max_lifetime),
            refresh_lifetime=v.get("tokens.refresh_lifetime", TokensConfig().refresh_lifetime),
            issuer=v.get("tokens.issuer", ""),
        ),
        oidc=_oidc(v.get("oidc.issuers", [])),
        limits=LimitsConfig(**{k.split(".", 1)[1]: val for k, val in v.items() if k.startswith("limits.")}),
        dialects=_dialects(v),
        workers=v.get("workers", 1),
        reload_settle=v.get("reload.settle", 0.5),
        policy_tests=policy_tests,
        shadow_policies=v.get("shadow_policies"),
        log_format=v.get("log_format", "text"),
        log_level=v.get("log_level", "info").lower(),
    )


def _policy_tests(v: dict[str, Any]) -> Path | None:
    """``policy_tests``: ``true`` is the policies directory (tests beside the documents), a
    path a test file or directory; and ``shadow_policies`` must be a directory."""
    if "shadow_policies" in v and not v["shadow_policies"].is_dir():
        raise ConfigError("shadow_policies", f"`{v['shadow_policies']}` is not a directory")
    tests = v.get("policy_tests", False)
    if tests is True:
        if "policies" not in v:
            raise ConfigError("policy_tests", "`true` means the tests beside `policies`: set `policies` too")
        return Path(v["policies"])
    if isinstance(tests, Path):
        if not tests.exists():
            raise ConfigError("policy_tests", f"`{tests}` does not exist")
        return tests
    return None


def _check_upstream_tls(v: dict[str, Any]) -> None:
    """The upstream's TLS files: present, both halves of a client certificate, an https:// URL."""
    if ("upstream.client_cert" in v) != ("upstream.client_key" in v):
        missing = "upstream.client_key" if "upstream.client_cert" in v else "upstream.client_cert"
        raise ConfigError(missing, "a client certificate needs both client_cert and client_key")
    for key in ("upstream.ca_file", "upstream.client_cert", "upstream.client_key"):
        if key not in v:
            continue
        if not v[key].is_file():
            raise ConfigError(key, f"`{v[key]}` does not exist")
        if not str(v.get("upstream.url", "")).startswith("https://"):
            raise ConfigError(key, "applies to an https:// upstream.url only")


def _dialects(v: dict[str, Any]) -> DialectContext:
    try:
        return dialect_context({k: val for k, val in v.items() if k.startswith("dialects.")})
    except SettingError as exc:
        raise ConfigError(exc.key, str(exc)) from None


def _oidc(raw: Any) -> tuple[OidcIssuer, ...]:
    if not isinstance(raw, list):
        raise ConfigError("oidc.issuers", "must be a list")
    out = []
    allowed = {
        "issuer",
        "audience",
        "jwks_uri",
        "username_claim",
        "kind",
        "name_prefix",
        "groups_claim",
        "groups",
        "required_claims",
        "authorized_parties",
        "allow_multiple_audiences",
    }
    for n, item in enumerate(raw):
        key = f"oidc.issuers[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(key, "must be a mapping")
        unknown = set(item) - allowed
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown setting")
        if not isinstance(item.get("issuer"), str) or not isinstance(item.get("audience"), str):
            raise ConfigError(key, "needs `issuer` and `audience`")
        if item.get("kind", "service-account") not in ("user", "service-account"):
            raise ConfigError(f"{key}.kind", "must be user or service-account")
        required = item.get("required_claims", {})
        if not isinstance(required, dict):
            raise ConfigError(f"{key}.required_claims", "must map claims to patterns")
        out.append(
            OidcIssuer(
                issuer=item["issuer"].rstrip("/"),
                audience=item["audience"],
                jwks_uri=item.get("jwks_uri"),
                username_claim=item.get("username_claim", "sub"),
                kind=item.get("kind", "service-account"),
                name_prefix=item.get("name_prefix", ""),
                groups_claim=item.get("groups_claim"),
                groups=tuple(item.get("groups", ())),
                required_claims={k: tuple(x if isinstance(x, list) else [x]) for k, x in required.items()},
                authorized_parties=tuple(str(p) for p in item.get("authorized_parties", ())),
                allow_multiple_audiences=item.get("allow_multiple_audiences", False) is True,
            )
        )
    return tuple(out)
