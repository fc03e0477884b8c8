#!/usr/bin/env bash
# What `make run`, `make test` and `make shell` need, on Debian (bookworm):
#
#   scripts/install-deps.sh runtime   Debian: docker-registry, openssl, curl, python3-venv
#                                     .venv: requirements/runtime.txt
#   scripts/install-deps.sh test      Debian: also every tool the suites and benchmarks drive
#                                     (skopeo, podman, buildah, ctr, nginx, wrk, ab, redis-server,
#                                     uidmap, fuse-overlayfs, systemd-analyze)
#                                     .venv: requirements/test.txt (adds pytest, ruff, mypy, ...)
#   scripts/install-deps.sh dev       .venv: requirements/dev.txt (adds pip-tools for `make lock`)
#
# Python packages go into the project's virtual environment .venv/, never into the system
# interpreter, exactly as the lock (requirements/*.txt) pins them, every file checked against
# its hash; then regproxy itself, editable, with no dependency resolution of its own.
# The venv is made by $PYTHON (default: python3 on PATH). When the lock or pyproject.toml's
# [project] changes, the venv is built anew, so nothing an earlier lock installed stays behind.
#
# Idempotent and quiet when nothing is missing. Every failure stops with its message. A tool
# that cannot be installed (no apt-get, not root and no sudo) is a warning locally, where the
# tests that need it skip, and an error in CI (CI=true), where they would fail.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-test}
case $profile in
  runtime) rank=1 ;;
  test) rank=2 ;;
  dev) rank=3 ;;
  *) echo "usage: $0 runtime|test|dev" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
VENV=.venv

in_ci() { case "${CI:-}" in 1|true|TRUE|True|yes) return 0 ;; *) return 1 ;; esac; }

# Tools in sbin (nginx) must be found under a minimal PATH too.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# --- Debian packages --------------------------------------------------------------------------
# command:package. The command is how we tell the package is there.
tools=(docker-registry:docker-registry openssl:openssl curl:curl)
if [ "$rank" -ge 2 ]; then
  tools+=(skopeo:skopeo podman:podman buildah:buildah ctr:containerd nginx:nginx-light wrk:wrk
          ab:apache2-utils redis-server:redis-server newuidmap:uidmap fuse-overlayfs:fuse-overlayfs
          systemd-analyze:systemd)
fi

have_venv_module() { "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; }

need=()
for pair in "${tools[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ! -x "$VENV/bin/python" ] && ! have_venv_module; then
  # Debian splits venv and ensurepip out of python3 (python3-venv).
  need+=(python3-venv)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  if command -v apt-get >/dev/null 2>&1 && { [ ${#SUDO[@]} -eq 0 ] || command -v sudo >/dev/null 2>&1; }; then
    echo "installing Debian packages: ${need[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "cannot install Debian packages (needs apt-get and root or sudo): ${need[*]}" >&2
    in_ci && exit 1
  fi
fi

missing=()
for pair in "${tools[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if in_ci; then
    echo "missing after install: ${missing[*]} (CI=true: a missing tool fails the build)" >&2
    exit 1
  fi
  echo "warning: missing ${missing[*]}: the tests that need them will skip" >&2
fi

# --- the virtual environment ------------------------------------------------------------------
locks=(requirements/build.txt requirements/runtime.txt)
[ "$rank" -ge 2 ] && locks+=(requirements/test.txt)
[ "$rank" -ge 3 ] && locks+=(requirements/dev.txt)

# What the venv was built from (line 1 of the stamp): the lock, what pyproject.toml says of the
# package (its [project] and [build-system] tables: dependencies, entry points; not tool
# settings), and the interpreter. Line 2: the widest profile installed so far (dev includes
# test includes runtime).
stamp=$VENV/.regproxy-lock
fingerprint() {
  { cat requirements/*.txt
    "$1" -c 'import json, sys, tomllib
d = tomllib.load(open("pyproject.toml", "rb"))
print(json.dumps([d["project"], d["build-system"], sys.version], sort_keys=True))'
  } | sha256sum | cut -d' ' -f1
}

if [ -x "$VENV/bin/python" ]; then
  if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$(fingerprint "$VENV/bin/python")" ]; then
    [ "$(sed -n 2p "$stamp")" -ge "$rank" ] && exit 0
  else
    echo "$VENV was built from another lock (or by hand): building it anew"
    rm -rf "$VENV"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! have_venv_module; then
    echo "$PYTHON has no venv/ensurepip module (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "creating $VENV with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$PYTHON" -m venv "$VENV"
fi

pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
echo "installing ${locks[*]} into $VENV"
req=()
for f in "${locks[@]}"; do req+=(-r "$f"); done
"${pip[@]}" install -q --require-hashes --only-binary=:all: "${req[@]}"
# regproxy itself: editable, its dependencies already there (--no-deps), built with the locked
# setuptools (--no-build-isolation) rather than whatever the index has today.
"${pip[@]}" install -q --no-deps --no-build-isolation -e .
"${pip[@]}" check
printf '%s\n%s\n' "$(fingerprint "$VENV/bin/python")" "$rank" > "$stamp"
