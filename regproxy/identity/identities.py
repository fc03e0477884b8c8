"""The identities file: users, service accounts, access credentials, revocations (pure parse).

    users:
      - name: alice
        password: "$scrypt$..."      # or a bcrypt hash from htpasswd
        groups: [team-a]
        projects: [project-a]       # Thalassa projects the user is bound in
    service_accounts:
      - name: ci
        password: "$scrypt$..."      # optional: service accounts usually use access credentials
        groups: [builders]
    access_credentials:              # Thalassa-style: id + secret bound to a principal
      - id: rpc_7f3a...
        secret: "$scrypt$..."
        principal: service-account:ci
        scope: containerRegistry:pull   # or a list: [containerRegistry:pull, objectStorage]
        expires: 2027-01-01T00:00:00Z
    revoked: [rpc_old, sts-jti-...]  # access-credential ids and short-lived credential ids
    htpasswd: htpasswd               # optional: an existing distribution htpasswd file

Users from an htpasswd file are users in no group; a name defined in both is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeGuard

from regproxy.errors import IdentityFileError, SourceLocation
from regproxy.identity.credential_scopes import credential_scopes
from regproxy.identity.passwords import is_supported_hash
from regproxy.identity.principal import CredentialScope, Principal, PrincipalKind, make_principal
from regproxy.sources.yamlsource import LineDict, YamlSyntaxError, at, load_yaml

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


@dataclass(frozen=True, slots=True)
class Account:
    """A user or service account."""

    kind: PrincipalKind
    name: str
    password_hash: str | None
    groups: frozenset[str]
    projects: frozenset[str]

    def principal(
        self, *, credential_id: str | None = None, scope: CredentialScope | None = None, expires_at: float | None = None
    ) -> Principal:
        return make_principal(
            self.kind,
            self.name,
            groups=self.groups,
            projects=self.projects,
            credential_id=credential_id,
            scope=scope,
            expires_at=expires_at,
        )


@dataclass(frozen=True, slots=True)
class AccessCredential:
    id: str
    secret_hash: str
    account: Account
    scope: CredentialScope
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Identities:
    accounts: Mapping[str, Account] = field(default_factory=lambda: MappingProxyType({}))  # "user:alice"
    logins: Mapping[str, Account] = field(default_factory=lambda: MappingProxyType({}))  # login name -> account
    credentials: Mapping[str, AccessCredential] = field(default_factory=lambda: MappingProxyType({}))
    revoked: frozenset[str] = frozenset()
    htpasswd_path: str | None = None

    def account(self, principal_id: str) -> Account | None:
        return self.accounts.get(principal_id)


def parse_htpasswd(text: str, location: SourceLocation) -> dict[str, str]:
    """``name:hash`` lines, as distribution's htpasswd auth reads them (bcrypt only)."""
    entries: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        where = SourceLocation(location.file, n)
        if not sep or not name or not hashed:
            raise IdentityFileError(where, "htpasswd lines are `name:hash`")
        if not hashed.startswith(("$2y$", "$2b$", "$2a$")):
            raise IdentityFileError(where, f"user `{name}`: only bcrypt htpasswd entries are supported")
        if name in entries:
            raise IdentityFileError(where, f"user `{name}` is repeated")
        entries[name] = hashed
    return entries


def parse_identities(text: str, location: SourceLocation, htpasswd: Mapping[str, str] | None = None) -> Identities:
    """Parse an identities file (and the htpasswd entries it refers to, already read)."""
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise IdentityFileError(SourceLocation(location.file, exc.line), exc.message) from exc
    if data is None:
        data = LineDict()
    if not isinstance(data, LineDict):
        raise IdentityFileError(location, "the identities file is a mapping")
    unknown = set(data) - {"users", "service_accounts", "access_credentials", "revoked", "htpasswd"}
    if unknown:
        raise IdentityFileError(at(location, data), f"unknown key `{sorted(unknown)[0]}`")

    accounts: dict[str, Account] = {}
    logins: dict[str, Account] = {}
    for key, kind in (("users", PrincipalKind.USER), ("service_accounts", PrincipalKind.SERVICE_ACCOUNT)):
        for item in _list(data, key, location):
            account = _account(item, kind, at(location, item))
            _add(accounts, logins, account, at(location, item))
    for name, hashed in (htpasswd or {}).items():
        account = Account(PrincipalKind.USER, name, hashed, frozenset(), frozenset())
        _add(accounts, logins, account, SourceLocation(str(data.get("htpasswd", "htpasswd"))))

    credentials: dict[str, AccessCredential] = {}
    for item in _list(data, "access_credentials", location):
        where = at(location, item)
        cred = _credential(item, accounts, where)
        if cred.id in credentials or cred.id in logins:
            raise IdentityFileError(where, f"credential id `{cred.id}` is already used")
        credentials[cred.id] = cred

    revoked = data.get("revoked", [])
    if not isinstance(revoked, list) or not all(isinstance(r, str) for r in revoked):
        raise IdentityFileError(at(location, data), "`revoked` must be a list of credential ids")
    htpasswd_path = data.get("htpasswd")
    if htpasswd_path is not None and not isinstance(htpasswd_path, str):
        raise IdentityFileError(at(location, data), "`htpasswd` must be a path")
    return Identities(
        accounts=MappingProxyType(accounts),
        logins=MappingProxyType(logins),
        credentials=MappingProxyType(credentials),
        revoked=frozenset(revoked),
        htpasswd_path=htpasswd_path,
    )


def htpasswd_path_of(text: str) -> str | None:
    """The ``htpasswd`` path an identities file names, read before the full parse."""
    try:
        data = load_yaml(text)
    except YamlSyntaxError:
        return None
    value = data.get("htpasswd") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _list(data: LineDict, key: str, location: SourceLocation) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise IdentityFileError(at(location, data), f"`{key}` must be a list")
    return value


def _add(accounts: dict[str, Account], logins: dict[str, Account], account: Account, where: SourceLocation) -> None:
    if account.name in logins:
        raise IdentityFileError(where, f"name `{account.name}` is defined twice")
    logins[account.name] = account
    accounts[f"{account.kind.value}:{account.name}"] = account


def _strings(item: LineDict, key: str, where: SourceLocation) -> frozenset[str]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise IdentityFileError(where, f"`{key}` must be a list of names")
    return frozenset(value)


_ACCOUNT_KEYS = frozenset({"name", "password", "groups", "projects", "description"})
_CREDENTIAL_KEYS = frozenset({"id", "secret", "principal", "scope", "expires", "description"})


def _entry(item: Any, keys: frozenset[str], what: str, where: SourceLocation) -> LineDict:
    """``item`` as a mapping of ``keys`` only; the error names ``what`` was expected."""
    if not isinstance(item, LineDict):
        raise IdentityFileError(where, f"{what} is a mapping")
    unknown = set(item) - keys
    if unknown:
        raise IdentityFileError(where, f"unknown key `{sorted(unknown)[0]}`")
    return item


def _is_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value) and set(value) <= _NAME_CHARS


def _account(raw: Any, kind: PrincipalKind, where: SourceLocation) -> Account:
    item = _entry(raw, _ACCOUNT_KEYS, "an account", where)
    name = item.get("name")
    if not _is_name(name):
        raise IdentityFileError(where, "`name` must be letters, digits, `._@-`")
    password = item.get("password")
    if password is not None and (not isinstance(password, str) or not is_supported_hash(password)):
        raise IdentityFileError(
            where, f"`{name}`: `password` must be a bcrypt or scrypt hash (see `regproxy hash-password`)"
        )
    return Account(kind, name, password, _strings(item, "groups", where), _strings(item, "projects", where))


def _credential(raw: Any, accounts: Mapping[str, Account], where: SourceLocation) -> AccessCredential:
    item = _entry(raw, _CREDENTIAL_KEYS, "an access credential", where)
    cid = item.get("id")
    if not _is_name(cid):
        raise IdentityFileError(where, "credential `id` must be letters, digits, `._@-`")
    secret = item.get("secret")
    if not isinstance(secret, str) or not is_supported_hash(secret):
        raise IdentityFileError(where, f"credential `{cid}`: `secret` must be a bcrypt or scrypt hash")
    owner = accounts.get(str(item.get("principal", "")))
    if owner is None:
        raise IdentityFileError(
            where, f"credential `{cid}`: `principal` must name a user:NAME or service-account:NAME defined above"
        )
    scope = _scope(item, cid, where)
    expires = item.get("expires")
    expires_at = None
    if expires is not None:
        try:
            moment = expires if isinstance(expires, datetime) else datetime.fromisoformat(str(expires))
        except ValueError:
            raise IdentityFileError(where, f"credential `{cid}`: `expires` is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        expires_at = moment.timestamp()
    return AccessCredential(cid, secret, owner, scope, expires_at)


def _scope(item: LineDict, cid: str, where: SourceLocation) -> CredentialScope:
    """``scope``: one scope word or a list of them (a credential may carry any set of scopes).

    There is no default. Seed 000: access credentials "must include one of" the registry scopes,
    so a credential that names none gets no registry access; but an existing file that omits
    ``scope`` was written when omitting it meant push and pull, so it is refused with a message
    naming the credential rather than silently narrowed (or widened) on upgrade.
    """
    if "scope" not in item:
        raise IdentityFileError(
            where,
            f"credential `{cid}` names no `scope`: write the scopes it was issued with, such as "
            "`scope: containerRegistry` (push and pull), `scope: containerRegistry:pull` (pull "
            "only), or `scope: [objectStorage]` (no registry access)",
        )
    raw = item["scope"]
    words = [raw] if isinstance(raw, str) else raw
    if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
        raise IdentityFileError(where, f"credential `{cid}`: `scope` must be a scope word or a list of them")
    try:
        return credential_scopes(words)
    except ValueError as exc:
        raise IdentityFileError(where, f"credential `{cid}`: {exc}") from None
