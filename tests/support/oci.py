"""Small random OCI images, in memory and as OCI image layouts on disk.

An image is gzip-compressed tar layers of random bytes, a config whose ``rootfs.diff_ids`` are
the digests of the uncompressed tars, and an OCI image manifest. Layers are compressed (with a
fixed gzip header) because skopeo and podman compress uncompressed layers on push, which would
rewrite the manifest: compressed ones are pushed verbatim, so digests survive end to end.
:func:`write_layout` lays it out per the OCI image-layout spec so that
``skopeo copy oci:DIR:latest …`` and ``podman pull oci:DIR:latest`` read it without a network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import tarfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def digest_of(data: bytes) -> str:
    """The OCI digest (``sha256:<hex>``) of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, slots=True)
class Image:
    layers: tuple[Blob, ...]
    config: Blob
    manifest: Blob

    @property
    def digest(self) -> str:
        """The manifest digest: what a registry answers in ``Docker-Content-Digest``."""
        return self.manifest.digest

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (*self.layers, self.config)


def random_blob(size: int) -> Blob:
    """A blob of ``size`` random bytes (not a layer: for raw blob endpoints)."""
    return Blob(os.urandom(size), "application/octet-stream")


def random_layer(size: int) -> tuple[Blob, str]:
    """A gzip tar layer holding one file of ``size`` random bytes, and its diff id."""
    payload = os.urandom(size)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/{payload[:8].hex()}.bin")
        info.size = size
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = buffer.getvalue()
    return Blob(gzip.compress(tar_bytes, mtime=0), LAYER_TYPE), digest_of(tar_bytes)


def build_image(layer_sizes: tuple[int, ...] = (64 * 1024, 32 * 1024)) -> Image:
    """A new image whose layers are random: every call yields distinct digests."""
    made = [random_layer(size) for size in layer_sizes]
    layers = tuple(layer for layer, _ in made)
    config = {
        "architecture": _ARCHITECTURES.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in made]},
    }
    config_blob = Blob(json.dumps(config, sort_keys=True).encode(), CONFIG_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_blob.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    return Image(layers, config_blob, Blob(json.dumps(manifest, indent=2).encode(), MANIFEST_TYPE))


def write_layout(directory: Path, image: Image, ref: str = "latest") -> Path:
    """Write ``image`` as an OCI image layout in ``directory``, tagged ``ref``; return it."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for blob in (*image.blobs, image.manifest):
        (blobs / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    entry = image.manifest.descriptor() | {"annotations": {"org.opencontainers.image.ref.name": ref}}
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}
    (directory / "index.json").write_text(json.dumps(index))
    return directory
