"""Workload identity: Bearer JWTs from external OIDC issuers (CI systems, Kubernetes, clouds).

Follows RFC 7519 (JWT), RFC 8725 (JWT BCP) and OpenID Connect Core 1.0 §3.1.3.7 (ID token
validation: ``iss`` exactly the configured issuer, ``aud`` contains the configured audience,
signature by the issuer's key, ``exp``/``iat`` checked). Keys come from the issuer's JWKS via
:class:`~regproxy.identity.jwk.IssuerKeys` (the JWKS cache); the token's ``jku``/``x5u``/``jwk`` headers are
never read.

Routing: the token's *unverified* ``iss`` only picks the configuration to verify it with. A token
from an issuer that is not configured is not ours (:class:`NotMine`: it may be regproxy's own).

Algorithms: the header's ``alg`` must be in the issuer's allowed list (asymmetric only: RS*, PS*,
ES*; never ``none`` or HS*) *and* one the key can verify (its JWK ``alg`` if it names one, else
its type and curve); verification then runs with exactly that algorithm.

Claims become a :class:`~regproxy.identity.principal.Principal`: the name from one claim (with a
prefix) or a template over several (``gh:{repository}@{ref}``), groups from claims and static
groups, and every claim kept on ``Principal.claims`` for policy conditions. ``required_claims``
(claim -> globs) must all match or the token is refused: it pins which workloads may log in at
all (``repository_owner: [acme]``), whatever the policies say later.

``docker login`` can only send Basic credentials, so a JWT is also accepted as the *password*
of Basic credentials whose username is the reserved ``basic_username`` (default ``oidc``):
``docker login -u oidc -p "$ID_TOKEN"``. Any other username is not ours, so the Basic and STS
authenticators keep their own users, and audit logs never show a client-chosen name for a
workload whose identity comes from its token. (GitLab and ACR use a fixed name the same way.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt

from regproxy.identity.chain import (
    NOT_MINE,
    AuthResult,
    Credentials,
    Invalid,
    Scheme,
    Unavailable,
    Valid,
)
from regproxy.identity.jose import InvalidToken, check_time_claims, decode_signed, peek_issuer
from regproxy.identity.jwk import IssuerKeys, IssuerUnavailable, UnknownKeyId, is_secure_url
from regproxy.identity.principal import Principal, PrincipalKind, glob_matches, make_principal
from regproxy.identity.token_cache import VerifiedTokenCache

__all__ = [
    "DEFAULT_BASIC_USERNAME",
    "SUPPORTED_ALGORITHMS",
    "OidcAuthenticator",
    "OidcIssuerConfig",
    "check_authorized_party",
    "map_principal",
]

DEFAULT_BASIC_USERNAME = "oidc"
SUPPORTED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
MAX_NAME_LENGTH = 256
# a `{claim}` placeholder of a name template; control characters no principal name may hold
_PLACEHOLDER_RE, _CONTROL_RE = re.compile(r"\{([A-Za-z0-9_.:-]+)\}"), re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class OidcIssuerConfig:
    """One trusted issuer and how its tokens' claims map to a principal."""

    issuer: str
    audience: str
    jwks_uri: str | None = None  # default: from {issuer}/.well-known/openid-configuration
    algorithms: frozenset[str] = frozenset({"RS256", "ES256"})
    kind: PrincipalKind = PrincipalKind.SERVICE_ACCOUNT
    name_claim: str = "sub"
    name_prefix: str = ""
    name_template: str | None = None  # `{claim}` placeholders; overrides name_claim/name_prefix
    group_claims: tuple[str, ...] = ()
    group_prefix: str = ""
    static_groups: frozenset[str] = frozenset()
    required_claims: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    leeway: float = 30.0
    max_lifetime: float | None = 24 * 3600.0  # refuse tokens that claim to live longer
    # OIDC Core 3.1.3.7: a token for several audiences is accepted only when its `azp` names
    # one of these clients, or when the operator allows it explicitly
    authorized_parties: frozenset[str] = frozenset()
    allow_multiple_audiences: bool = False

    def __post_init__(self) -> None:
        if not is_secure_url(self.issuer):
            raise ValueError(f"issuer `{self.issuer}` must be an https URL")
        if self.jwks_uri is not None and not is_secure_url(self.jwks_uri):
            raise ValueError(f"jwks_uri `{self.jwks_uri}` must be an https URL")
        if not self.audience:
            raise ValueError(f"issuer `{self.issuer}` needs an audience")
        if not self.algorithms or not self.algorithms <= SUPPORTED_ALGORITHMS:
            known = ", ".join(sorted(SUPPORTED_ALGORITHMS))
            raise ValueError(f"issuer `{self.issuer}`: algorithms must be among {known}")
        if self.kind is PrincipalKind.ANONYMOUS:
            raise ValueError(f"issuer `{self.issuer}`: tokens cannot map to anonymous")
        if self.name_template is not None and not _PLACEHOLDER_RE.search(self.name_template):
            raise ValueError(f"issuer `{self.issuer}`: name_template names no `{{claim}}`")
        if self.leeway < 0 or (self.max_lifetime is not None and self.max_lifetime <= 0):
            raise ValueError(f"issuer `{self.issuer}`: leeway and max_lifetime must be positive")
        for claim, patterns in self.required_claims.items():
            if not patterns:
                raise ValueError(f"issuer `{self.issuer}`: required claim `{claim}` has no pattern")


def check_authorized_party(config: OidcIssuerConfig, claims: Mapping[str, Any]) -> None:
    """A token for several audiences was minted for someone else unless ``azp`` says it was
    for a client this issuer's config names (or the config allows it): :class:`InvalidToken`."""
    audiences = claims.get("aud")
    azp = claims.get("azp")
    if azp is not None and config.authorized_parties and azp not in config.authorized_parties:
        raise InvalidToken("token was issued to a client this issuer is not configured to accept")
    several = isinstance(audiences, list) and len(audiences) > 1
    if several and not config.allow_multiple_audiences and azp not in config.authorized_parties:
        raise InvalidToken("token for several audiences without an authorized party this issuer accepts")


def map_principal(config: OidcIssuerConfig, claims: Mapping[str, Any]) -> Principal:
    """The principal a verified token's claims stand for; :class:`InvalidToken` if they cannot."""
    for claim, patterns in config.required_claims.items():
        values = _claim_strings(claims.get(claim))
        if not any(glob_matches(p, v) for p in patterns for v in values):
            raise InvalidToken(f"claim `{claim}` does not match the issuer's requirements")
    if config.name_template is not None:
        name = _PLACEHOLDER_RE.sub(lambda m: _name_part(claims, m.group(1)), config.name_template)
    else:
        name = config.name_prefix + _name_part(claims, config.name_claim)
    if len(name) > MAX_NAME_LENGTH or _CONTROL_RE.search(name):
        raise InvalidToken("claims give an unusable principal name")
    groups = set(config.static_groups)
    for claim in config.group_claims:
        groups.update(config.group_prefix + g for g in _claim_strings(claims.get(claim)) if g)
    jti = claims.get("jti")
    return make_principal(
        config.kind,
        name,
        groups=groups,
        credential_id=jti if isinstance(jti, str) else None,
        expires_at=float(claims["exp"]),
        claims=claims,
    )


def _name_part(claims: Mapping[str, Any], claim: str) -> str:
    value = claims.get(claim)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise InvalidToken(f"claim `{claim}` needed for the principal name is missing")
    return str(value)


def _claim_strings(value: Any) -> list[str]:
    """A claim as strings, the way policy claim conditions read it (booleans as true/false)."""
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, str | int):
            out.append(str(v))
    return out


class OidcAuthenticator:
    """Bearer JWTs (or Basic ``oidc:<jwt>``) from the configured issuers."""

    def __init__(
        self,
        issuers: Iterable[OidcIssuerConfig],
        jwks: IssuerKeys,
        *,
        clock: Callable[[], float] = time.time,
        basic_username: str | None = DEFAULT_BASIC_USERNAME,
        cache_size: int = 4096,
        cache_ttl: float = 300.0,
    ) -> None:
        by_issuer: dict[str, OidcIssuerConfig] = {}
        for config in issuers:
            if config.issuer in by_issuer:
                raise ValueError(f"issuer `{config.issuer}` is configured twice")
            by_issuer[config.issuer] = config
        self._issuers: Mapping[str, OidcIssuerConfig] = MappingProxyType(by_issuer)
        self._jwks = jwks
        self._clock = clock
        self._basic_username = basic_username
        self._cache = VerifiedTokenCache(cache_size)
        self._cache_ttl = cache_ttl

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        if not self._takes(credentials):
            return NOT_MINE
        token = credentials.secret
        issuer = peek_issuer(token)
        config = self._issuers.get(issuer) if issuer is not None else None
        if config is None:
            return NOT_MINE
        now = self._clock()
        cached = self._cache.get(token, now)
        if cached is not None:
            return Valid(cached)
        try:
            principal = await self._verify(config, token, now)
        except InvalidToken as exc:
            return Invalid(exc.reason, credentials.scheme)
        except IssuerUnavailable as exc:
            return Unavailable(str(exc))
        # Remember the verification for a while, never beyond the token's own expiry; the
        # short cache_ttl bounds how long a key the issuer withdrew keeps being honoured.
        until = min(float(principal.expires_at or now) + config.leeway, now + self._cache_ttl)
        self._cache.put(token, principal, until)
        return Valid(principal)

    def _takes(self, credentials: Credentials) -> bool:
        if credentials.scheme is Scheme.BEARER:
            return True
        return (
            credentials.scheme is Scheme.BASIC
            and self._basic_username is not None
            and credentials.username == self._basic_username
        )

    async def _verify(self, config: OidcIssuerConfig, token: str, now: float) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("token is not a well-formed JWT") from None
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token names no key id")
        # Checked before any fetch: a token with alg none or HS256 never costs a JWKS request.
        if alg not in config.algorithms:
            raise InvalidToken("token algorithm is not allowed for its issuer")
        try:
            key = await self._jwks.get_key(config.issuer, kid, jwks_uri=config.jwks_uri)
        except UnknownKeyId:
            raise InvalidToken("token is signed with an unknown key") from None
        if alg not in key.algorithms:
            raise InvalidToken("token algorithm is not the key's")
        claims = decode_signed(
            token,
            key.public_key,
            alg,
            audience=config.audience,
            issuer=config.issuer,
            strict_audience=False,
            required=REQUIRED_CLAIMS,
        )
        check_time_claims(
            claims,
            now=now,
            leeway=config.leeway,
            max_lifetime=config.max_lifetime,
            require_nbf=False,  # OIDC ID tokens need not carry nbf (Core §2)
        )
        check_authorized_party(config, claims)
        return map_principal(config, claims)
