"""The one place that writes error bodies: OCI error JSON with the right status and headers."""

from __future__ import annotations

import orjson
from aiohttp import web

from regproxy.errors import OciError

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


def error_response(error: OciError, *, head: bool = False) -> web.Response:
    headers = {API_VERSION_HEADER[0]: API_VERSION_HEADER[1], **error.headers}
    body = orjson.dumps(error.body())
    if head:  # a HEAD answer has no body, but says how long it would be
        headers["Content-Length"] = str(len(body))
        return web.Response(status=error.status, headers=headers)
    return web.Response(status=error.status, body=body, content_type="application/json", headers=headers)
