#!/usr/bin/env bash
# Runs every Switchboard test on this machine, installing what the tests need
# when it is missing (Debian packages via apt-get). CI runs exactly this.
#
#   ./scripts/test.sh            everything: gofmt, go vet, go test -race ./..., node --test
#   ./scripts/test.sh -run Foo   extra arguments go to `go test`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---- dependencies ---------------------------------------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)   # browser end-to-end tests
for tool in turnutils_uclient turnutils_peer turnserver; do   # TURN tests against coturn's client, echo peer, server
  command -v "$tool" >/dev/null || { missing+=(coturn); break; }
done
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || missing+=(iproute2)   # network-namespace tests (ip netns)
if [ ${#missing[@]} -gt 0 ]; then
  echo "# installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "go is not installed (need Go 1.26)"; exit 1; }
command -v node >/dev/null || { echo "node is not installed (need Node 20 for the SDK unit tests)"; exit 1; }
# The real client libraries of the compat tests (y-webrtc, yjs), exactly as
# the committed lock file says; again only when the lock file changed since.
compat=internal/e2e/compat
if [ ! -f "$compat/node_modules/.package-lock.json" ] || [ "$compat/package-lock.json" -nt "$compat/node_modules/.package-lock.json" ]; then
  echo "# npm ci in $compat"
  command -v npm >/dev/null || { echo "npm is not installed (need it for the compat tests in $compat)"; exit 1; }
  (cd "$compat" && npm ci --ignore-scripts --no-audit --no-fund) || { echo "npm ci failed in $compat: the compat browser tests cannot run"; exit 1; }
fi

# ---- static checks -----------------------------------------------------------
echo "# gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
echo "# go vet"
go vet ./...

# ---- tests -------------------------------------------------------------------
echo "# node --test --test-timeout=60000 web/sdk/"
node --test --test-timeout=60000 web/sdk/ # a test that hangs fails instead of stalling CI

# One package at a time (-p 1): the browser tests (four Chromium tabs
# encoding and decoding video through the SFU), the TURN reconnect storm and
# the resume chaos test each load both cores of the machine the project
# runs on; side by side they starved each other into timeouts.
echo "# go test -race -p 1 ./..."
go test -race -p 1 -count=1 -timeout 30m "$@" ./...
