#!/usr/bin/env bash
# `make run`: a real registry on 127.0.0.1:5001 (storage in ./run/registry) and regproxy in
# front of it on 127.0.0.1:5000 with the example config and policies. Ctrl-C stops both.
# regproxy runs from the project's venv (.venv, built by scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p run/keys
[ -f run/keys/signing.pem ] || openssl ecparam -name prime256v1 -genkey -noout -out run/keys/signing.pem
scripts/registry.sh "$PWD/run/registry" 127.0.0.1:5001 > run/registry.log 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fs -o /dev/null http://127.0.0.1:5001/v2/ && break
  sleep 0.1
done
echo "registry (distribution) on 127.0.0.1:5001, log in run/registry.log"
echo "regproxy on http://127.0.0.1:5000 (admin on 127.0.0.1:9100); Ctrl-C stops both"
.venv/bin/python -m regproxy serve --config examples/regproxy.yaml
