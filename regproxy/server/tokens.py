"""The Docker token service at ``/token``, its JWKS, bearer and OIDC verification, and the
endpoint where a principal mints a narrower short-lived credential for itself.

Follows distribution's token specs (docs/spec/auth/token.md, oauth.md, jwt.md): ``GET /token``
with Basic (or a refresh token as Bearer), several ``scope`` parameters, ``offline_token=true``
for a refresh token; ``POST /token`` with the OAuth2 form (``grant_type=password`` or
``refresh_token``) as containerd and podman send it. A token's ``access`` is what was asked,
intersected with what the policy in force allows at issue time; it only bounds later requests,
which the policy in force then still decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from regproxy.authorization import client_address
from regproxy.authorization.grants import grant_access
from regproxy.config import Config
from regproxy.errors import ConfigError, ErrorCode, OciError, Unauthenticated, UpstreamUnavailable
from regproxy.identity.chain import AuthResult, Credentials, Invalid, Scheme, Unavailable, Valid
from regproxy.identity.jose import InvalidToken
from regproxy.identity.keys import KeyLoadError, KeySet, load_signing_key, load_verification_key
from regproxy.identity.oidc import OidcIssuerConfig
from regproxy.identity.principal import Principal, PrincipalKind
from regproxy.identity.scope import ScopeRequest, parse_scope
from regproxy.identity.sts import DEFAULT_MAX_TTL, issue_credential
from regproxy.identity.tokens import TokenService
from regproxy.metrics import Metrics
from regproxy.policy.model import RequestContext
from regproxy.reload import Store
from regproxy.server import bodies
from regproxy.server.authentication import Authentication, Refused
from regproxy.server.logins import LOGINS, Logins
from regproxy.server.responses import error_response

log = logging.getLogger("regproxy.tokens")

TOKEN_PATH = "/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
CREDENTIALS_PATH = "/credentials"
MAX_SCOPES = 32
MAX_STS_TTL = DEFAULT_MAX_TTL  # 12 h: a short-lived credential is short-lived


def load_keyset(config: Config) -> KeySet | None:
    """Blocking: the token service's keys from the configured PEM files (None: no service)."""
    tokens = config.tokens
    if tokens.signing_key is None:
        return None

    def read(key: str, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(key, f"cannot read `{path}`: {exc.strerror}") from None

    try:
        signing = load_signing_key(read("tokens.signing_key", tokens.signing_key))
    except KeyLoadError as exc:
        raise ConfigError("tokens.signing_key", f"`{tokens.signing_key}`: {exc}") from None
    extra = []
    for n, path in enumerate(tokens.verification_keys):
        key = f"tokens.verification_keys[{n}]"
        try:
            extra.append(load_verification_key(read(key, Path(path))))
        except KeyLoadError as exc:
            raise ConfigError(key, f"`{path}`: {exc}") from None
    try:
        return KeySet(signing, extra)
    except KeyLoadError as exc:
        raise ConfigError("tokens.verification_keys", str(exc)) from None


def oidc_configs(config: Config) -> list[OidcIssuerConfig]:
    out = []
    for n, issuer in enumerate(config.oidc):
        try:
            out.append(
                OidcIssuerConfig(
                    issuer=issuer.issuer,
                    audience=issuer.audience,
                    jwks_uri=issuer.jwks_uri,
                    kind=PrincipalKind(issuer.kind),
                    name_claim=issuer.username_claim,
                    name_prefix=issuer.name_prefix,
                    group_claims=(issuer.groups_claim,) if issuer.groups_claim else (),
                    static_groups=frozenset(issuer.groups),
                    required_claims=dict(issuer.required_claims),
                    authorized_parties=frozenset(issuer.authorized_parties),
                    allow_multiple_audiences=issuer.allow_multiple_audiences,
                )
            )
        except ValueError as exc:
            raise ConfigError(f"oidc.issuers[{n}]", str(exc)) from None
    return out


class TokenEndpoint:
    def __init__(
        self,
        config: Config,
        store: Store,
        service: TokenService,
        authentication: Authentication,
        metrics: Metrics,
        logins: Logins,
    ) -> None:
        self.logins = logins
        self.config = config
        self.store = store
        self.service = service
        self.authentication = authentication
        self.metrics = metrics

    # -- GET /token -------------------------------------------------------------------
    async def get(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            self._check_service(query.get("service"))
            scopes = self._scopes(query.getall("scope", []))
            principal = await self._principal_from_header(request)
        except OciError as error:
            return error_response(error)
        return self._answer(request, principal, scopes, offline=query.get("offline_token") == "true", oauth=False)

    # -- POST /token (OAuth2 form) -----------------------------------------------------
    async def post(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "expected an application/x-www-form-urlencoded body")
        limits = self.config.limits
        try:
            form = await bodies.read_form(request, limits.max_token_body, limits.body_idle_timeout)
        except OciError as error:  # too large or stalled: in the token endpoint's own terms
            return _oauth_error(error.status, "invalid_request", error.message)
        except ValueError:
            return _oauth_error(400, "invalid_request", "the form is not valid UTF-8 or has too many fields")
        grant = str(form.get("grant_type", ""))
        try:
            self._check_service(_form_str(form.get("service")))
            scopes = self._scopes(str(form.get("scope", "")).split())
        except OciError as error:
            return _oauth_error(400, "invalid_request", error.message)
        if grant == "password":
            username, password = str(form.get("username", "")), str(form.get("password", ""))
            if not username:
                return _oauth_error(400, "invalid_request", "`username` is required")
            if (throttled := await self._throttled(request, username)) is not None:
                return throttled
            result = await self._password_grant(Credentials(Scheme.BASIC, username, password))
        elif grant == "refresh_token":
            token = str(form.get("refresh_token", ""))
            try:
                result = Valid(self._current(self.service.verify_refresh_token(token)))
            except InvalidToken as exc:
                result = Invalid(exc.reason, Scheme.BEARER)
        else:
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be password or refresh_token")
        if isinstance(result, Unavailable):
            return _oauth_error(503, "temporarily_unavailable", result.reason)
        if not isinstance(result, Valid):
            reason = result.reason if isinstance(result, Invalid) else "credentials not recognised"
            log.info("token refused: %s", reason)
            await self.logins.failed(request, grant)
            return _oauth_error(401, "invalid_grant", "invalid credentials")
        await self.logins.succeeded(request, result.principal.id)
        offline = form.get("access_type") == "offline" or grant == "refresh_token"
        return self._answer(request, result.principal, scopes, offline=offline, oauth=True)

    # -- GET /.well-known/jwks.json ----------------------------------------------------
    async def jwks(self, request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(self.service.keys.jwks()),
            content_type="application/json",
            headers={"Cache-Control": "max-age=300"},
        )

    # -- POST /credentials: mint a narrower short-lived credential ---------------------
    async def credentials(self, request: web.Request) -> web.StreamResponse:
        try:
            principal = await self._principal_from_header(request)
            if not principal.authenticated:
                raise Unauthenticated("authentication required", headers={"WWW-Authenticate": self._basic_challenge()})
            if principal.scope is not None:
                raise OciError("a scoped credential cannot mint credentials", code=ErrorCode.DENIED, status=403)
            limits = self.config.limits
            body = orjson.loads(await bodies.read_bounded(request, limits.max_token_body, limits.body_idle_timeout))
            ttl = int(body.get("ttl", 3600))
            actions = body.get("actions") or ["pull"]
            repositories = body.get("repositories") or []
            if not isinstance(actions, list) or not isinstance(repositories, list) or not repositories:
                raise OciError("give `actions` and `repositories` as lists", code=ErrorCode.UNSUPPORTED)
            signing = self.service.keys.signing
            if signing is None:
                raise OciError("no signing key", code=ErrorCode.UNSUPPORTED, status=503)
            credential = issue_credential(
                principal.id,
                ttl,
                [str(a) for a in actions],
                [str(r) for r in repositories],
                signing,
                time.time(),
                issuer=self.service.issuer,
                audience=self.service.service,
                max_ttl=MAX_STS_TTL,
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            return error_response(OciError(f"bad request: {exc}", code=ErrorCode.UNSUPPORTED))
        except OciError as error:
            return error_response(error)
        self.metrics.inc("regproxy_tokens_issued_total", (("kind", "sts"),))
        self.logins.granted(
            request, principal.id, principal.kind.value, [{"type": "credential", "name": credential.jti, "actions": []}]
        )
        log.info("short-lived credential %s issued to %s", credential.jti, principal.id)
        return web.json_response(
            {
                "username": credential.username,
                "password": credential.password,
                "expires_at": datetime.fromtimestamp(time.time() + ttl, UTC).isoformat(),
            }
        )

    # -- shared ------------------------------------------------------------------------
    def _current(self, principal: Principal) -> Principal:
        """A refresh token's principal as the identities file describes it *now*.

        Accounts from the identities file are looked up again, so a deleted account can no
        longer refresh and group changes apply at the next refresh. Principals federated from
        an OIDC issuer carry the issuer's claims and are not in the file: they keep theirs.
        """
        if principal.claims:
            return principal
        account = self.store.identities.account(principal.id)
        if account is None:
            raise InvalidToken("the account behind this refresh token no longer exists")
        return replace(principal, groups=account.groups, projects=account.projects)

    def _basic_challenge(self) -> str:
        return f'Basic realm="{self.config.service}"'

    def _check_service(self, service: str | None) -> None:
        if service and service != self.config.service:
            raise OciError(
                f"this token service is `{self.config.service}`, not `{service}`", code=ErrorCode.UNSUPPORTED
            )

    def _scopes(self, raw: Iterable[str]) -> list[ScopeRequest]:
        parts = [p for item in raw for p in item.split()]
        if len(parts) > MAX_SCOPES:
            raise OciError(f"at most {MAX_SCOPES} scopes per request", code=ErrorCode.UNSUPPORTED)
        try:
            return [parse_scope(p) for p in parts]
        except ValueError as exc:
            raise OciError(str(exc), code=ErrorCode.UNSUPPORTED) from None

    async def _throttled(self, request: web.Request, username: str) -> web.Response | None:
        """The OAuth answer while ``username`` or the caller's address is throttled, else None."""
        try:
            await self.logins.attempt(request, username)
        except OciError as error:
            return _oauth_error(error.status, "temporarily_unavailable", error.message, error.headers)
        return None

    async def _principal_from_header(self, request: web.Request) -> Principal:
        """The caller, by the one authentication every endpoint uses; a Bearer here is a
        refresh token (GET /token with ``Authorization: Bearer <refresh token>``). A password
        is a login: throttled while its user or address backs off, and counted when it fails."""
        challenge = {"WWW-Authenticate": self._basic_challenge()}
        try:
            credentials = self.authentication.credentials(request)
        except Refused as refused:
            await self.logins.failed(request, "malformed")
            raise Unauthenticated(refused.reason, headers=challenge) from None
        if credentials.scheme is Scheme.BASIC:  # a password can be guessed; a signed token cannot
            await self.logins.attempt(request, credentials.username)
        try:
            if credentials.scheme is Scheme.BEARER:
                principal = self._refresh_principal(credentials.secret)
            else:
                principal = await self.authentication.check(credentials)
        except Refused as refused:
            log.info("token refused: %s", refused.reason)
            await self.logins.failed(request, credentials.scheme.value)
            # a refresh token says why; a refused password does not
            message = refused.reason if refused.scheme is Scheme.BEARER else "invalid credentials"
            raise Unauthenticated(message, headers=challenge) from None
        if principal.authenticated:
            await self.logins.succeeded(request, principal.id)
        return principal

    def _refresh_principal(self, token: str) -> Principal:
        try:
            return self._current(self.service.verify_refresh_token(token))
        except InvalidToken as exc:
            raise Refused(exc.reason, Scheme.BEARER) from None

    async def _password_grant(self, credentials: Credentials) -> AuthResult:
        """The OAuth2 password grant, by the same authentication as every endpoint."""
        try:
            return Valid(await self.authentication.check(credentials))
        except Refused as refused:
            return Invalid(refused.reason, refused.scheme)
        except UpstreamUnavailable as exc:
            return Unavailable(exc.message)

    def _granted(self, principal: Principal, scopes: list[ScopeRequest], source: Any) -> list[dict[str, Any]]:
        """Each requested scope, narrowed to what the decision flow allows now."""
        return grant_access(scopes, RequestContext(principal, source, datetime.now(UTC)), self.store.policy)

    def _answer(
        self, request: web.Request, principal: Principal, scopes: list[ScopeRequest], *, offline: bool, oauth: bool
    ) -> web.Response:
        source = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.config.trusted_proxies)
        access = self._granted(principal, scopes, source)
        try:
            issued = self.service.issue(principal, access)
        except ValueError as exc:
            return error_response(Unauthenticated(str(exc), headers={"WWW-Authenticate": self._basic_challenge()}))
        self.metrics.inc("regproxy_tokens_issued_total", (("kind", "access"),))
        self.logins.granted(request, principal.id, principal.kind.value, access)
        body: dict[str, Any] = {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        if oauth:
            body["scope"] = " ".join(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access)
        if offline and principal.authenticated:
            body["refresh_token"] = self.service.issue_refresh_token(principal).token
            self.metrics.inc("regproxy_tokens_issued_total", (("kind", "refresh"),))
        log.info(
            "token issued to %s: %s",
            principal.id,
            " ".join(f"{a['name']}:{','.join(a['actions'])}" for a in access) or "(no access)",
        )
        return web.json_response(body, headers={"Cache-Control": "no-store"})


def _form_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def install(
    app: web.Application,
    config: Config,
    store: Store,
    metrics: Metrics,
    service: TokenService,
    authentication: Authentication,
) -> None:
    """Add the token service's endpoints to ``app`` (the composition root built the service);
    every ``/token`` and ``/credentials`` request is audited as a login."""
    logins = app[LOGINS]
    endpoint = TokenEndpoint(config, store, service, authentication, metrics, logins)
    app.router.add_get(TOKEN_PATH, logins.audited("token", endpoint.get))
    app.router.add_post(TOKEN_PATH, logins.audited("token", endpoint.post))
    app.router.add_get(JWKS_PATH, endpoint.jwks)
    app.router.add_post(CREDENTIALS_PATH, logins.audited("credentials", endpoint.credentials))
