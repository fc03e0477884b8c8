"""The example identities (examples/identities.yaml) as credentials, and unique names.

Tests share one registry for the session and keep to repository names of their own, so no
test sees another's state, whichever order they run in.
"""

from __future__ import annotations

import uuid
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # the repository's examples/

ALICE = ("alice", "alice-password")  # group team-a-devs: push and pull in team-a/**
BOB = ("bob", "bob-password")  # group team-a-readers: pull in team-a/** only
ADMIN = ("admin", "admin-password")  # group registry-admins: everything
CI_PULL = ("rpc-ci-pull", "ci-pull-secret")  # service-account:ci (team-a-devs), scope pull only


def unique(prefix: str) -> str:
    """A repository path component no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
