"""Settings, declared once: each field names its key, default, kind, check and README line.

Flags > ``REGPROXY_*`` environment > file > defaults. Every key of the YAML file has an
environment variable: the path upper-cased and joined by ``_`` under ``REGPROXY_``
(``upstream.url`` → ``REGPROXY_UPSTREAM_URL``). A bad value is a :class:`ConfigError` naming the
key, at start-up. Relative paths in the file are relative to the file's own directory.

Parsing is :func:`regproxy.settings.parse.parse_settings` (pure); reading the file and the
files settings name is :func:`regproxy.settings.files.load_config` (the edge); the README's
table is :func:`regproxy.settings.docs.markdown_table`. Each dialect owns its ``dialects.*``
section (:mod:`regproxy.policy.dialects.settings`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from regproxy.policy.dialects import DialectContext
from regproxy.settings.declare import at_least, non_negative, one_of, positive, section, setting
from regproxy.settings.values import (
    HostPort,
    OidcIssuer,
    networks,
    oidc_issuers,
    parse_hostport,
    paths,
    probe_interval,
    repository_patterns,
)

__all__ = [
    "AuditConfig",
    "CacheConfig",
    "Config",
    "HostPort",
    "LimitsConfig",
    "OidcIssuer",
    "TlsConfig",
    "TokensConfig",
    "UpstreamConfig",
    "parse_hostport",
]


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    url: str = setting("upstream.url", "http://127.0.0.1:5001", "url", "the registry behind regproxy")
    auth: str = setting(
        "upstream.auth",
        "none",
        "str",
        "`none`, `basic`, or `bearer` (the registry's own token flow, done with `upstream.username`/"
        "`upstream.password_file`)",
        check=one_of(("none", "basic", "bearer"), "must be none, basic or bearer"),
    )
    username: str = setting("upstream.username", "", "str", "the user regproxy logs in to the registry as")
    password: str = setting(
        "upstream.password", "", "str", "its password (prefer `upstream.password_file`)", shown="none", secret=True
    )
    password_file: Path | None = setting(
        "upstream.password_file", None, "path", "a file holding the password (read at start-up)"
    )
    connect_timeout: float = setting(
        "upstream.connect_timeout",
        5.0,
        "float",
        "explicit timeouts; an unreachable registry is a 503 in OCI error JSON",
        check=positive,
        shown="5 s",
    )
    read_timeout: float = setting(
        "upstream.read_timeout",
        300.0,
        "float",
        "the longest wait for the registry's answer",
        check=positive,
        shown="300 s",
    )
    pool_size: int = setting("upstream.pool_size", 256, "int", "connections kept to the registry", check=at_least(1))
    ca_file: Path | None = setting(
        "upstream.ca_file", None, "path", "a private CA for an https:// upstream (PEM)", shown="system CAs"
    )
    client_cert: Path | None = setting(
        "upstream.client_cert", None, "path", "mTLS towards the upstream: certificate (PEM) ...", shown="off"
    )
    client_key: Path | None = setting("upstream.client_key", None, "path", "... and its key (PEM)", shown="off")
    probe_interval: float = setting(
        "upstream.probe_interval",
        300.0,
        "float",
        "seconds between capability probes of the upstream; 0 = off",
        check=probe_interval,
        shown="300 s",
    )


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert: Path | None = setting(
        "tls.cert",
        None,
        "path",
        "serve HTTPS (plain HTTP on loopback by default); a rotated pair is used by new connections without a"
        " restart, a broken one refused (logged) and the old one kept",
        shown="off",
    )
    key: Path | None = setting("tls.key", None, "path", "the private key of `tls.cert` (PEM)", shown="off")


@dataclass(frozen=True, slots=True)
class TokensConfig:
    signing_key: Path | None = setting(
        "tokens.signing_key", None, "path", "the token service's signing key (ES256 or RS256 PEM)", shown="off"
    )
    verification_keys: tuple[Path, ...] = setting(
        "tokens.verification_keys",
        (),
        "list",
        "public keys whose tokens still verify (a rotation's previous key)",
        check=paths,
        shown="none",
    )
    lifetime: int = setting("tokens.lifetime", 300, "int", "seconds an access token lives", check=at_least(1))
    max_lifetime: int = setting("tokens.max_lifetime", 3600, "int", "the longest lifetime a client may ask for")
    refresh_lifetime: int = setting("tokens.refresh_lifetime", 7 * 86400, "int", "seconds a refresh token lives")
    issuer: str = setting("tokens.issuer", "", "str", "the tokens' `iss`", shown="`external_url`")


@dataclass(frozen=True, slots=True)
class AuditConfig:
    path: str = setting(
        "audit.path", "-", "str", "audit log file, `-` for stdout, empty to turn it off (SIGUSR1 reopens it)"
    )
    queue_size: int = setting(
        "audit.queue_size", 10000, "int", "audit lines buffered before requests wait", check=at_least(1)
    )


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    header_timeout: float = setting(
        "limits.header_timeout", 10.0, "float", "seconds a client has to send its request head", check=positive
    )
    max_header_size: int = setting(
        "limits.max_header_size", 16384, "int", "bytes of request line and headers", check=at_least(1024)
    )
    max_connections: int = setting(
        "limits.max_connections", 1024, "int", "open client connections per worker", check=at_least(1)
    )
    keepalive_timeout: float = setting(
        "limits.keepalive_timeout", 75.0, "float", "seconds an idle connection is kept", check=positive
    )
    requests_per_second: float = setting("limits.requests_per_second", 0.0, "float", "per principal; 0 = unlimited")
    burst: int = setting("limits.burst", 0, "int", "requests a principal may send at once above the rate")
    concurrent_requests: int = setting(
        "limits.concurrent_requests", 0, "int", "requests in flight per principal; 0 = unlimited"
    )
    shutdown_timeout: float = setting(
        "limits.shutdown_timeout", 30.0, "float", "seconds in-flight requests get at shutdown", check=positive
    )
    max_token_body: int = setting(
        "limits.max_token_body",
        8192,
        "int",
        "bytes of a `POST /token` form or a `POST /credentials` body (413 past it, before reading)",
        check=at_least(1024),
    )
    max_manifest_size: int = setting(
        "limits.max_manifest_size",
        4 * 1024 * 1024,
        "int",
        "bytes of a manifest PUT (413 `SIZE_INVALID`, never forwarded); blobs are unbounded and streamed",
        check=at_least(1024),
        shown="4 MiB",
    )
    body_idle_timeout: float = setting(
        "limits.body_idle_timeout",
        60.0,
        "float",
        "a streamed body, either direction, that sends nothing this long is cut (408 for an upload)",
        check=positive,
        shown="60 s",
    )
    max_trailer_size: int = setting(
        "limits.max_trailer_size",
        8192,
        "int",
        "bytes of chunked trailers, all lines together (431 past it)",
        check=at_least(0),
    )
    max_requests_per_connection: int = setting(
        "limits.max_requests_per_connection",
        10000,
        "int",
        "requests on one keep-alive connection before it is closed",
        check=at_least(1),
    )
    login_free_failures: int = setting(
        "limits.login_free_failures", 5, "int", "failed logins per user name before back-off", check=at_least(0)
    )
    login_free_failures_per_source: int = setting(
        "limits.login_free_failures_per_source",
        20,
        "int",
        "failed logins per source address before back-off (set `trusted_proxies` behind a load balancer)",
        check=at_least(0),
    )
    login_backoff: float = setting(
        "limits.login_backoff",
        1.0,
        "float",
        "the first back-off, doubling with each further failure (429 `Retry-After`)",
        check=positive,
        shown="1 s",
    )
    login_backoff_max: float = setting(
        "limits.login_backoff_max", 300.0, "float", "the back-off's cap", check=positive, shown="300 s"
    )
    login_failure_window: float = setting(
        "limits.login_failure_window",
        900.0,
        "float",
        "failures older than this are forgotten",
        check=positive,
        shown="900 s",
    )


@dataclass(frozen=True, slots=True)
class CacheConfig:
    manifests_size_mib: int = setting(
        "cache.manifests.size_mib",
        0,
        "int",
        "MiB of manifests fetched by digest kept in memory (least recently used out) and answered without the "
        "registry, after authorizing as usual; never tags; a DELETE through regproxy evicts; "
        "the audit line says `cache: hit`",
        check=at_least(0),
        shown="0 (off)",
    )
    manifests_ttl: float = setting(
        "cache.manifests.ttl",
        60.0,
        "float",
        "how long a cached manifest is answered: bounds a deletion made behind regproxy's back",
        check=positive,
        shown="60 s",
    )


DIALECTS = "regproxy.dialects"  # the metadata mark of the field each dialect's section fills


@dataclass(frozen=True, slots=True)
class Config:
    listen: HostPort = setting("listen", HostPort("127.0.0.1", 5000), "hostport", "public address")
    external_url: str = setting(
        "external_url",
        "",
        "url",
        "the URL clients use; upload `Location`s and the token realm point here",
        shown="`http(s)://listen`",
    )
    service: str = setting("service", "regproxy", "str", "the token service name (the tokens' `aud`)")
    upstream: UpstreamConfig = section(UpstreamConfig)
    tls: TlsConfig = section(TlsConfig)
    identities: Path | None = setting(
        "identities", None, "path", "users, service accounts, access credentials, revocations", shown="none"
    )
    policies: Path | None = setting(
        "policies",
        None,
        "path",
        "the policies directory (watched; see [policies/README.md](policies/README.md))",
        shown="none",
    )
    public: tuple[str, ...] = setting(
        "public", (), "list", "repository globs anyone may pull, anonymous included", check=repository_patterns
    )
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = setting(
        "trusted_proxies",
        (),
        "list",
        "CIDRs whose `X-Forwarded-For` is honoured for source-address conditions",
        check=networks,
    )
    forwarded_headers: bool = setting(
        "forwarded_headers", False, "bool", "send regproxy's own `X-Forwarded-*` to the registry"
    )
    admin_listen: HostPort | None = setting(
        "admin.listen",
        HostPort("127.0.0.1", 9100),
        "hostport",
        "`/healthz`, `/readyz`, `/metrics` — never on the public port",
    )
    audit: AuditConfig = section(AuditConfig)
    tokens: TokensConfig = section(TokensConfig)
    oidc: tuple[OidcIssuer, ...] = setting(
        "oidc.issuers",
        (),
        "any",
        "external OIDC issuers whose tokens are accepted (`issuer`, `audience`, claims mapping; "
        "`authorized_parties`: clients (`azp`) whose tokens for several audiences are accepted; "
        "`allow_multiple_audiences`: accept them without an `azp` check)",
        check=oidc_issuers,
        shown="none",
    )
    limits: LimitsConfig = section(LimitsConfig)
    cache: CacheConfig = section(CacheConfig)
    dialects: DialectContext = section(DialectContext, {DIALECTS: True})
    workers: int = setting(
        "workers", 1, "int", "processes sharing the port; a worker that dies is replaced", check=at_least(1)
    )
    reload_settle: float = setting(
        "reload.settle",
        0.5,
        "float",
        "how long watched files (policies, identities, TLS pair) must be unchanged before a reload reads them",
        check=non_negative,
        shown="0.5 s",
    )
    policy_tests: Path | None = setting(
        "policy_tests",
        None,
        "path-or-bool",
        "decision tests every policy set must pass (`true`: the tests beside the policies, `*.test.yaml` and "
        "`tests/*.yaml`; or a test file or directory); a set that fails them is refused like a broken one, and a "
        "start does not happen ([Policies as code](#policies-as-code))",
        shown="off",
    )
    shadow_policies: Path | None = setting(
        "shadow_policies",
        None,
        "path",
        "a candidate policies directory, compiled and watched like `policies`, deciding every request again "
        "without effect ([Policies as code](#policies-as-code))",
        shown="off",
    )
    log_format: str = setting(
        "log_format",
        "text",
        "str",
        "`json` for structured logs",
        check=one_of(("text", "json"), "must be text or json"),
    )
    log_level: str = setting(
        "log_level",
        "info",
        "str",
        "`debug`, `info`, `warning` or `error`",
        check=one_of(("debug", "info", "warning", "error"), "must be debug, info, warning or error", fold_case=True),
    )

    @property
    def public_url(self) -> str:
        if self.external_url:
            return self.external_url.rstrip("/")
        scheme = "https" if self.tls.cert else "http"
        return f"{scheme}://{self.listen}"
