#!/usr/bin/env bash
# Install what regproxy's quickstart and tests need on Debian: the real registry, the real
# clients, nginx, wrk and ab (apache2-utils) for the benchmarks, and the Python package with its
# test extras.
# Idempotent: packages already present are not reinstalled; apt-get update runs at most once.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in docker-registry:docker-registry skopeo:skopeo podman:podman nginx:nginx-light \
            wrk:wrk ab:apache2-utils openssl:openssl systemd-analyze:systemd; do
  tool=${pair%%:*}; pkg=${pair#*:}
  command -v "$tool" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need[@]}" uidmap fuse-overlayfs >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
  | grep -v -e 'Running pip as the' -e 'is ignored: it is neither' || true

missing=0
for tool in docker-registry skopeo podman nginx wrk ab openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing after install: $tool" >&2; missing=1; }
done
exit $missing
