"""The distribution API spoken by hand, for setting up state (directly on the registry or
through regproxy): push a blob, push an image, read a manifest's digest."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.support.http import Response, request
from tests.support.oci import MANIFEST_TYPE, Blob, Image

Auth = tuple[str, str] | None


def start_upload(base_url: str, repository: str, *, auth: Auth = None) -> Response:
    """``POST …/blobs/uploads/`` (202 with the session's ``Location``)."""
    response = request(base_url, "POST", f"/v2/{repository}/blobs/uploads/", auth=auth, body=b"")
    assert response.status == 202, (response.status, response.body)
    return response


def session_target(location: str) -> str:
    """The path and query of an upload ``Location`` (absolute or relative)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_param(target: str, name: str, value: str) -> str:
    return f"{target}{'&' if '?' in target else '?'}{name}={value}"


def push_blob(base_url: str, repository: str, blob: Blob, *, auth: Auth = None) -> Response:
    """POST then one PUT ``?digest=`` with the whole blob (201). Distribution 2.8 ignores
    ``?digest=`` on the POST (no single-request monolithic upload), so this is the portable way."""
    started = start_upload(base_url, repository, auth=auth)
    location = started.header("Location")
    assert location is not None
    response = request(
        base_url,
        "PUT",
        with_param(session_target(location), "digest", blob.digest),
        auth=auth,
        body=blob.data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status == 201, (response.status, response.body)
    return response


def put_manifest(base_url: str, repository: str, reference: str, manifest: Blob, *, auth: Auth = None) -> Response:
    return request(
        base_url,
        "PUT",
        f"/v2/{repository}/manifests/{reference}",
        auth=auth,
        body=manifest.data,
        headers={"Content-Type": manifest.media_type},
    )


def push_image(base_url: str, repository: str, image: Image, tag: str | None = "latest", *, auth: Auth = None) -> None:
    """Push every blob, then the manifest by ``tag`` (or by digest when ``tag`` is None)."""
    for blob in image.blobs:
        push_blob(base_url, repository, blob, auth=auth)
    response = put_manifest(base_url, repository, tag or image.digest, image.manifest, auth=auth)
    assert response.status == 201, (response.status, response.body)


def manifest_headers() -> dict[str, str]:
    return {"Accept": MANIFEST_TYPE}
