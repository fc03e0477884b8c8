#!/usr/bin/env bash
# Regenerate the lock, requirements/*.txt, from pyproject.toml (`make lock`): every package
# pinned to one version with the hashes of all its published files. pip installs it
# (`pip install --require-hashes -r requirements/...`); uv only resolves it.
#
#   scripts/lock.sh              keep the pins that still satisfy pyproject.toml; add, drop or
#                                move only what a changed range asks for
#   scripts/lock.sh --upgrade    take the newest releases pyproject.toml's ranges admit
#
# The resolution is universal (--universal): one lock for every Python pyproject.toml admits
# (3.11 on), with environment markers where a dependency differs, e.g. redis's async-timeout
# below Python 3.11.3 (Debian bookworm's /usr/bin/python3 is 3.11.2). dev.txt is resolved first
# and constrains the others, so a package has one version in every file. No local pip or uv
# configuration is read, so the lock is the same whichever machine regenerates it.
# tests/unit/test_lock.py checks it against pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}

compile() {
  local out=$1; shift
  UV_NO_CONFIG=1 "$uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --no-emit-package regproxy --custom-compile-command "make lock" \
    --output-file "requirements/$out" "$@"
}

compile dev.txt --extra dev pyproject.toml "$@"
compile test.txt --extra test --constraint requirements/dev.txt pyproject.toml "$@"
compile runtime.txt --constraint requirements/dev.txt pyproject.toml "$@"
# setuptools, which builds regproxy's own wheel (`pip install --no-build-isolation`, the
# Containerfile): the build backend is locked too. pyproject.toml's build-system.requires is
# the input.
.venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
  > requirements/build.in
compile build.txt --constraint requirements/dev.txt requirements/build.in "$@"
rm requirements/build.in
