#!/usr/bin/env bash
# Start Debian's docker-registry (CNCF distribution) on loopback, storage in a local folder.
# usage: scripts/registry.sh DATA_DIR ADDRESS   (prints nothing; runs in the foreground)
set -euo pipefail
data=${1:?data dir}; addr=${2:-127.0.0.1:5001}
mkdir -p "$data/storage"
cat > "$data/config.yml" <<CFG
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
CFG
exec docker-registry serve "$data/config.yml"
