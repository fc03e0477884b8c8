"""What /readyz says of the upstream's capabilities: nothing claimed before the first probe,
then the probe's own line."""

from __future__ import annotations

from regproxy.oci.capability import Capabilities, Capability, Support, unknown_support
from regproxy.server.run import with_capabilities


def test_before_the_first_probe_nothing_is_claimed() -> None:
    assert with_capabilities("ready: policy generation 1", Capabilities()) == (
        "ready: policy generation 1; capabilities not probed yet"
    )


def test_the_probes_findings_follow_the_readiness_line() -> None:
    support = unknown_support() | {Capability.TAG_DELETION: Support.NO, Capability.MANIFEST_DELETION: Support.YES}
    found = Capabilities(reachable=True, api_version="registry/2.0", support=support, problem="", probed_at=5.0)
    assert with_capabilities("ready: 2 workers", found) == (
        "ready: 2 workers; upstream registry/2.0; "
        "tag-deletion no, manifest-deletion yes, referrers unknown, mount unknown"
    )


def test_an_unusable_upstream_says_why() -> None:
    found = Capabilities(problem="the registry cannot be reached", probed_at=5.0)
    assert with_capabilities("upstream not usable: x", found).endswith(
        "; upstream not usable: the registry cannot be reached"
    )
