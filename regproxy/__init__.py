"""regproxy: an authorizing reverse proxy for OCI / Docker v2 registries.

The domain core (``regproxy.oci``, ``regproxy.identity``, ``regproxy.policy``) is pure: no
sockets, no files, no aiohttp. Adapters (upstream client, watchers, audit sink) and the edge
(``regproxy.server``) sit on top; ``regproxy.cli`` is the only entry point.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
