"""What an upstream registry can do, as values: the findings of a probe, what each probe answer
means, and which requests need what (pure; :mod:`regproxy.proxy.capabilities` does the asking).

A finding is ``yes``, ``no`` or ``unknown``; only a ``no`` learned from the registry's own answer
ever changes what regproxy does, and only for deletes:

- ``DELETE /v2/<name>/manifests/<tag>`` needs ``tag-deletion``, ``…/manifests/<digest>`` needs
  ``manifest-deletion``: in front of a registry known not to do it, an allowed request is
  answered ``UNSUPPORTED`` by regproxy (:func:`unsupported`) rather than forwarded;
- the referrers API is never refused here: the spec's fallback for a registry without it is the
  client reading the registry's own 404, so that 404 must reach the client as the registry sent it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import orjson

from regproxy.errors import ErrorCode, OciError
from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


class Capability(StrEnum):
    TAG_DELETION = "tag-deletion"
    MANIFEST_DELETION = "manifest-deletion"
    REFERRERS = "referrers"
    MOUNT = "mount"


class Support(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def unknown_support() -> dict[Capability, Support]:
    return dict.fromkeys(Capability, Support.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """One probe's findings. ``problem`` says, in the operator's words, why the registry could
    not be used when ``reachable`` is false."""

    reachable: bool = False
    api_version: str = ""
    support: Mapping[Capability, Support] = field(default_factory=unknown_support)
    problem: str = "not probed yet"
    probed_at: float = 0.0

    def supports(self, capability: Capability) -> Support:
        return self.support.get(capability, Support.UNKNOWN)

    def answer(self, capability: Capability) -> bool | None:
        """The finding as the decision flow takes a fact: yes, no, or None (cannot tell)."""
        state = self.supports(capability)
        return None if state is Support.UNKNOWN else state is Support.YES

    def detail(self) -> str:
        """One line for /readyz and the log: ``registry/2.0; tag-deletion no, referrers no, …``."""
        if not self.reachable:
            return f"upstream not usable: {self.problem}"
        found = ", ".join(f"{c.value} {self.supports(c).value}" for c in Capability)
        return f"upstream {self.api_version or '(no API version header)'}; {found}"


# -- pure: one answer -> one finding -------------------------------------------------------------
def classify_tag_deletion(status: int) -> Support:
    if status in (202, 404):
        return Support.YES  # deleted, or "no such tag": either way the registry deletes by tag
    if status in (400, 405):
        return Support.NO  # distribution 2.8 reads the tag as a malformed digest (400); 405 deletes off
    return Support.UNKNOWN


def classify_manifest_deletion(status: int) -> Support:
    if status in (202, 404):
        return Support.YES
    if status == 405:
        return Support.NO  # distribution with storage.delete.enabled false: UNSUPPORTED
    return Support.UNKNOWN


def classify_referrers(status: int, content_type: str, body: bytes) -> Support:
    if status == 200:
        media_type = content_type.split(";", 1)[0].strip().lower()
        try:
            index = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Support.UNKNOWN
        if media_type == INDEX_TYPE and isinstance(index, dict) and isinstance(index.get("manifests"), list):
            return Support.YES
        return Support.UNKNOWN
    if status == 404:
        return Support.NO  # the spec forbids a 404 from a registry that implements referrers
    return Support.UNKNOWN


# -- what a request needs --------------------------------------------------------------------
NEEDS: Mapping[Action, Capability] = {
    Action.DELETE_TAG: Capability.TAG_DELETION,
    Action.DELETE_MANIFEST: Capability.MANIFEST_DELETION,
}


def needed_capability(request: RegistryRequest) -> Capability | None:
    """The capability an (already authorized) request needs the registry to have, if any."""
    return NEEDS.get(request.action) if request.action is not None else None


def unsupported(request: RegistryRequest, found: Capabilities) -> OciError | None:
    """The ``UNSUPPORTED`` refusal for a request the registry is known not to perform, else None.

    Run it after authorization allowed the request: a caller the policy refuses learns nothing of
    the registry. ``unknown`` never refuses."""
    capability = needed_capability(request)
    if capability is None or found.supports(capability) is not Support.NO:
        return None
    return unsupported_error(capability, found)


def unsupported_error(capability: Capability, found: Capabilities) -> OciError:
    """405 ``UNSUPPORTED``, naming the capability and the registry, in the spec's error JSON."""
    return OciError(
        f"the registry behind regproxy does not support {capability.value}",
        code=ErrorCode.UNSUPPORTED,
        status=405,
        detail={"capability": capability.value, "upstream": found.api_version or "unknown"},
    )


def capability_warnings(granted: Iterable[Action], found: Capabilities) -> list[str]:
    """What ``regproxy check`` says of a policy set granting actions the registry cannot do."""
    registry = found.api_version or "the upstream"
    warnings = []
    for action in sorted(set(granted), key=str):
        capability = NEEDS.get(action)
        if capability is not None and found.supports(capability) is Support.NO:
            warnings.append(
                f"the policies grant `{action}`, but {registry} has no {capability.value}: "
                "such requests get UNSUPPORTED"
            )
    return warnings


__all__ = [
    "INDEX_TYPE",
    "NEEDS",
    "Capabilities",
    "Capability",
    "Support",
    "capability_warnings",
    "classify_manifest_deletion",
    "classify_referrers",
    "classify_tag_deletion",
    "needed_capability",
    "unknown_support",
    "unsupported",
    "unsupported_error",
]
