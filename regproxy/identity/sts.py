"""Short-lived credentials (the STS idea): stateless, signed, and narrower than their principal.

A short-lived credential is a Basic username/password pair that any registry client can use
(``docker login -u sts-… -p …``). Nothing is stored: the password is a JWT signed with the token
service's key (see :mod:`regproxy.identity.jose`; ``typ`` ``regproxy-sts+jwt``, ``regproxy.use``
``sts``) carrying ``sub`` (the principal id), ``jti``, ``exp`` and a *session policy*: a list of
``{repository glob, actions}``, and optionally an Alibaba RAM session policy verbatim
(:mod:`regproxy.identity.session_policy`): the credential then allows what its principal's
policies allow *and* the session policy allows, an explicit deny in either winning. The
username is ``sts-<jti>``; RFC 7617 forbids ``:`` in a Basic
username, so it cannot be the principal id itself, and binding it to the ``jti`` lets audit logs
and revocation name the credential.

At use, the credential must verify (signature, ``exp`` within leeway, ``typ``, the lifetime
cap), neither its ``jti`` nor its username may be in the current revocation set (read through a
callable, since the identities file reloads), and its principal must still exist (``resolve``:
groups and projects come from the identities file as it is *now*). The session policy only
ever narrows: the principal's scope becomes the session policy intersected with any scope it
already had, and the policy in force still decides every request.

Action words: a string that is a docker word (``pull``, ``push``, ``delete``, ``*``) means what
the token scope grammar says (:mod:`regproxy.identity.scope`); any other string is a regproxy
action or pattern (``tag-create``, ``delete-*``); pass :class:`~regproxy.oci.actions.Action`
members for exactly one action.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from regproxy.identity.chain import NOT_MINE, AuthResult, Credentials, Invalid, Scheme, Valid
from regproxy.identity.claims import STS_USERNAME_PREFIX, credential_revoked
from regproxy.identity.jose import (
    CLAIM,
    DEFAULT_LEEWAY,
    InvalidToken,
    TokenUse,
    registered_claims,
    sign_claims,
    verify_signed,
)
from regproxy.identity.keys import KeySet, SigningKey
from regproxy.identity.principal import CredentialScope, Principal, ScopeGrant
from regproxy.identity.scope import DOCKER_WORDS, grants_from_claim, grants_to_claim
from regproxy.identity.session_policy import SessionPolicy, compile_session_policy
from regproxy.oci.actions import Action, expand_action_pattern

__all__ = [
    "DEFAULT_MAX_TTL",
    "SESSION_SCOPE_NAME",
    "USERNAME_PREFIX",
    "StsAuthenticator",
    "StsCredential",
    "issue_credential",
    "session_actions",
]

USERNAME_PREFIX = STS_USERNAME_PREFIX
SESSION_SCOPE_NAME = "sts"  # the credential-scope name policy conditions can test
DEFAULT_MAX_TTL = 12 * 3600


class StsCredential(NamedTuple):
    username: str
    password: str

    @property
    def jti(self) -> str:
        return self.username.removeprefix(USERNAME_PREFIX)


def session_actions(actions: Iterable[str | Action]) -> frozenset[Action]:
    """Docker words and regproxy actions/patterns as one set; ``ValueError`` on an unknown word."""
    out: set[Action] = set()
    for word in actions:
        if isinstance(word, Action):
            out.add(word)
        elif word in DOCKER_WORDS:
            out |= DOCKER_WORDS[word]
        else:
            out |= expand_action_pattern(word)
    return frozenset(out)


def issue_credential(
    principal_id: str,
    ttl: int,
    actions: Iterable[str | Action],
    repositories: Iterable[str],
    signing_key: SigningKey,
    now: float,
    *,
    issuer: str,
    audience: str,
    max_ttl: int = DEFAULT_MAX_TTL,
    session_policy: SessionPolicy | None = None,
) -> StsCredential:
    """A credential for ``principal_id`` allowing at most ``actions`` on ``repositories`` (globs),
    and, with a ``session_policy`` (an Alibaba RAM document), at most what that document allows.

    Raises ``ValueError`` for a ttl outside ``(0, max_ttl]``, no actions or no repositories, or
    a session policy the Alibaba dialect refuses (the message names its line).
    """
    if not 0 < ttl <= max_ttl:
        raise ValueError(f"ttl must be between 1 and {max_ttl} seconds")
    granted = session_actions(actions)
    globs = list(dict.fromkeys(repositories))
    if not principal_id or not granted or not globs or not all(globs):
        raise ValueError("a short-lived credential needs a principal, actions and repositories")
    policy = grants_to_claim([ScopeGrant(glob, granted) for glob in globs])
    private: dict[str, object] = {"use": TokenUse.STS.value, "policy": policy}
    if session_policy is not None:
        compile_session_policy(session_policy)  # refuse it now, not at every use
        private["session_policy"] = session_policy.to_claim()
    iat = int(now)
    claims = registered_claims(issuer=issuer, subject=principal_id, audience=audience, iat=iat, exp=iat + ttl)
    claims[CLAIM] = private
    return StsCredential(USERNAME_PREFIX + claims["jti"], sign_claims(claims, signing_key, TokenUse.STS))


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StsAuthenticator:
    """Basic credentials ``sts-<jti>`` / signed session token.

    ``resolve`` finds the principal by id as the identities file says now; ``revoked`` reads
    the revocation set as it is now (both reload)."""

    keys: KeySet
    issuer: str
    audience: str
    resolve: Callable[[str], Principal | None]
    revoked: Callable[[], frozenset[str]] = frozenset
    clock: Callable[[], float] = time.time
    leeway: float = DEFAULT_LEEWAY
    max_ttl: int = DEFAULT_MAX_TTL

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        if credentials.scheme is not Scheme.BASIC or not credentials.username.startswith(USERNAME_PREFIX):
            return NOT_MINE
        try:
            return Valid(self._verify(credentials.username, credentials.secret))
        except InvalidToken as exc:
            return Invalid(exc.reason, Scheme.BASIC)

    def _verify(self, username: str, password: str) -> Principal:
        claims = verify_signed(
            password,
            self.keys,
            use=TokenUse.STS,
            issuer=self.issuer,
            audience=self.audience,
            now=self.clock(),
            leeway=self.leeway,
            max_lifetime=self.max_ttl,
        )
        jti = claims["jti"]
        if not isinstance(jti, str) or username != USERNAME_PREFIX + jti:
            raise InvalidToken("short-lived credential username does not match its token")
        # listed by jti, or by the name audit lines show: the revocation rule of every token
        if credential_revoked(username, self.revoked()):
            raise InvalidToken("short-lived credential has been revoked")
        try:
            grants = grants_from_claim(claims[CLAIM].get("policy"))
        except ValueError:
            raise InvalidToken("short-lived credential session policy is malformed") from None
        if not grants:
            raise InvalidToken("short-lived credential session policy is empty")
        principal = self.resolve(claims["sub"])
        if principal is None or not principal.authenticated:
            raise InvalidToken("short-lived credential principal no longer exists")
        exp = float(claims["exp"])
        session = CredentialScope(SESSION_SCOPE_NAME, grants)
        if "session_policy" in claims[CLAIM]:
            try:
                document = compile_session_policy(SessionPolicy.from_claim(claims[CLAIM]["session_policy"]))
            except ValueError:
                raise InvalidToken("short-lived credential session policy is malformed") from None
            session = session.narrowed(document)
        return dataclasses.replace(
            principal,
            credential_id=username,
            scope=session.narrowed(principal.scope),
            expires_at=exp if principal.expires_at is None else min(exp, principal.expires_at),
        )
