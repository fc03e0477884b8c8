"""Name, tag and digest grammar of the OCI distribution spec v1.1 ("Pulling manifests").

    name   = [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*
    tag    = [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    digest = algorithm ":" encoded   (sha256: 64 lower-case hex; sha512: 128)

Only the digest algorithms a registry can verify are accepted: anything else is refused here,
before authorization, as the registry would refuse it after.
"""

from __future__ import annotations

import re

NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME = rf"{NAME_COMPONENT}(?:/{NAME_COMPONENT})*"
TAG = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
DIGEST = r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}"
REFERENCE = rf"{DIGEST}|{TAG}"
UPLOAD_ID = r"[a-zA-Z0-9._=-]+"

# Distribution caps repository names at 255 characters (reference.NameTotalLengthMax).
NAME_MAX_LENGTH = 255

NAME_RE = re.compile(NAME)
TAG_RE = re.compile(TAG)
DIGEST_RE = re.compile(DIGEST)


def is_name(value: str) -> bool:
    return len(value) <= NAME_MAX_LENGTH and NAME_RE.fullmatch(value) is not None


def is_tag(value: str) -> bool:
    return TAG_RE.fullmatch(value) is not None


def is_digest(value: str) -> bool:
    return DIGEST_RE.fullmatch(value) is not None


def namespace_of(name: str) -> str:
    """The namespace is the first path component of a repository name."""
    return name.partition("/")[0]
