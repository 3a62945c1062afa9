#!/usr/bin/env bash
# Install (if needed) and smoke-test the pinned third-party MCP servers used by
# mcp-cli's integration tests. Idempotent: a second run only re-verifies.
#
#   tests/servers/install.sh            # install if stale, then verify
#   SKIP_VERIFY=1 tests/servers/install.sh   # install only
#   PYTHON=python3.12 tests/servers/install.sh  # choose interpreter for .venv
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

PYTHON="${PYTHON:-python3}"
VERIFY_TIMEOUT="${VERIFY_TIMEOUT:-20}"

die() { echo "install.sh: ERROR: $*" >&2; exit 1; }

command -v node >/dev/null || die "node not found on PATH (need node >= 20)"
command -v npm >/dev/null || die "npm not found on PATH"
command -v timeout >/dev/null || die "'timeout' (coreutils) not found on PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node >= 20 required, found $(node -v)"

# --- (0) shells for the completion tests (bash is here already) ---------------
if ! command -v zsh >/dev/null || ! command -v fish >/dev/null; then
  command -v apt-get >/dev/null || die "zsh and fish are needed by the completion tests: install them"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install.sh: apt-get install zsh fish" >&2
  $sudo apt-get install -y -q zsh fish >&2 \
    || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q zsh fish >&2; } \
    || die "apt-get install zsh fish failed"
fi

# --- (a) npm servers ---------------------------------------------------------
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install.sh: npm ci in $HERE" >&2
  npm ci --no-audit --no-fund >&2 || die "npm ci failed"
fi

# --- (b) python servers -------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found on PATH (need python >= 3.10)"
  echo "install.sh: creating .venv with $PYTHON" >&2
  rm -rf .venv
  "$PYTHON" -m venv .venv || die "'$PYTHON -m venv .venv' failed (is the venv module installed?)"
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  echo "install.sh: pip install -r requirements.txt" >&2
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt >&2 \
    || die "pip install -r requirements.txt failed"
  touch .venv/.installed
fi

[ "${SKIP_VERIFY:-0}" = 1 ] && exit 0

# --- (c) verify each server answers initialize + tools/list over stdio ---------
REQS='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp-cli-install-check","version":"0"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}
'

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/fsroot"

# verify NAME VERSION CMD [ARGS...]
verify() {
  local name="$1" version="$2"; shift 2
  local out="$tmp/$name.out" err="$tmp/$name.err"
  [ -x "$1" ] || die "$name: executable '$1' missing; delete $HERE/node_modules and $HERE/.venv and re-run"
  : >"$out"
  # Keep stdin open until the tools/list reply arrives (or the deadline passes),
  # then close it so the server exits promptly.
  {
    printf '%s' "$REQS"
    local i=0
    while [ "$i" -lt $((VERIFY_TIMEOUT * 10)) ] && ! grep -q '"tools":\[' "$out"; do
      sleep 0.1; i=$((i + 1))
    done
  } | timeout "$VERIFY_TIMEOUT" "$@" >"$out" 2>"$err" || true

  local summary
  if ! summary="$(node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
    let info = "?", n = -1;
    for (const l of lines) {
      let m; try { m = JSON.parse(l); } catch { continue; }
      if (m.id === 1 && m.result) info = m.result.serverInfo.name + "@" + m.result.serverInfo.version;
      if (m.id === 2 && m.result && Array.isArray(m.result.tools)) n = m.result.tools.length;
    }
    if (n < 0) process.exit(1);
    console.log(info + " " + n);
  ' "$out")"; then
    {
      echo "install.sh: ERROR: $name did not answer tools/list within ${VERIFY_TIMEOUT}s"
      echo "  command: $*"
      echo "  --- stdout (head) ---"; head -c 2000 "$out"; echo
      echo "  --- stderr (tail) ---"; tail -n 20 "$err"
    } >&2
    exit 1
  fi
  printf '%-24s %-12s serverInfo=%-40s tools=%s\n' "$name" "$version" "${summary% *}" "${summary##* }"
}

pkgver() { node -p "require('./node_modules/$1/package.json').version"; }
pyver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }

verify server-everything "$(pkgver @modelcontextprotocol/server-everything)" \
  node_modules/.bin/mcp-server-everything stdio
verify server-filesystem "$(pkgver @modelcontextprotocol/server-filesystem)" \
  node_modules/.bin/mcp-server-filesystem "$tmp/fsroot"
verify mcp-server-time "$(pyver mcp-server-time)" \
  .venv/bin/mcp-server-time
