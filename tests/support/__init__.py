"""Shared fixtures' machinery for the integration and end-to-end suites.

Real parts, not mocks (DESIGN.md): the upstream is Debian's ``docker-registry`` (CNCF
distribution 2.8) on loopback, the clients are ``skopeo`` and ``podman``. Every wait is a
poll with a bounded deadline; every process is stopped by its own PID.

- :mod:`.tools` — :func:`require_tool`, the only place a test may skip;
- :mod:`.processes` — free ports, bounded polling, start/stop of server subprocesses;
- :mod:`.registry` — :class:`Registry`, docker-registry with its access log kept;
- :mod:`.proxy` — :class:`Proxy`, ``python -m regproxy serve`` with a generated config;
- :mod:`.oci` — digests, random images, OCI image layouts on disk;
- :mod:`.http` — a raw HTTP client (exact request lines, any method) and Basic auth;
- :mod:`.distribution` — the v2 API by hand, for setting up state (push a blob, an image);
- :mod:`.clients` — skopeo and podman, each isolated in the test's own folder;
- :mod:`.examples` — the example identities' credentials and unique repository names.
"""

from tests.support.clients import Podman, Run, Skopeo
from tests.support.http import Response, basic_auth, request
from tests.support.oci import Blob, Image, build_image, digest_of, write_layout
from tests.support.processes import ServerProcess, free_port, wait_until
from tests.support.proxy import Proxy
from tests.support.registry import Registry
from tests.support.tools import require_tool

__all__ = [
    "Blob",
    "Image",
    "Podman",
    "Proxy",
    "Registry",
    "Response",
    "Run",
    "ServerProcess",
    "Skopeo",
    "basic_auth",
    "build_image",
    "digest_of",
    "free_port",
    "request",
    "require_tool",
    "wait_until",
    "write_layout",
]
