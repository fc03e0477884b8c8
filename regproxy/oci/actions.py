"""The canonical action vocabulary: one word per distinct permission.

Every request the proxy forwards needs one or more of these on a repository (or, for
``catalog``, on the registry). Dialect compilers translate each cloud's words into these;
``policies/README.md`` holds the tables.
"""

from __future__ import annotations

import functools
from enum import StrEnum


class Action(StrEnum):
    PULL = "pull"  # GET/HEAD manifests and blobs, referrers
    LIST = "list"  # GET tags/list; a repository is shown in the catalog to whoever may list it
    CATALOG = "catalog"  # be shown the repository in GET /v2/_catalog
    PUSH = "push"  # blob uploads, manifest PUT by digest
    TAG_CREATE = "tag-create"  # manifest PUT by a tag that does not exist yet
    TAG_OVERWRITE = "tag-overwrite"  # manifest PUT by a tag that already exists
    DELETE_TAG = "delete-tag"  # DELETE manifests/<tag>
    DELETE_MANIFEST = "delete-manifest"  # DELETE manifests/<digest>
    DELETE_BLOB = "delete-blob"  # DELETE blobs/<digest>
    CREATE_REPOSITORY = "create-repository"  # the first push into a repository


ALL_ACTIONS: frozenset[Action] = frozenset(Action)
WRITE_ACTIONS: frozenset[Action] = frozenset(
    {Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE, Action.CREATE_REPOSITORY}
)
DELETE_ACTIONS: frozenset[Action] = frozenset({Action.DELETE_TAG, Action.DELETE_MANIFEST, Action.DELETE_BLOB})
READ_ACTIONS: frozenset[Action] = frozenset({Action.PULL, Action.LIST})


@functools.lru_cache(maxsize=1024)
def expand_action_pattern(pattern: str) -> frozenset[Action]:
    """Expand a native action word or wildcard (``*``, ``tag-*``, ``delete-*``).

    Raises ``ValueError`` when the pattern names no action, so a typo in a policy is an error
    rather than a statement that silently grants nothing.
    """
    if pattern == "*":
        return ALL_ACTIONS
    if "*" in pattern:
        prefix, _, suffix = pattern.partition("*")
        if "*" in suffix:
            raise ValueError(f"action pattern `{pattern}` has more than one `*`")
        found = frozenset(a for a in Action if a.value.startswith(prefix) and a.value.endswith(suffix))
    else:
        found = frozenset(a for a in Action if a.value == pattern)
    if not found:
        known = ", ".join(a.value for a in Action)
        raise ValueError(f"unknown action `{pattern}` (known: {known})")
    return found
