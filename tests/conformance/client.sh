#!/usr/bin/env bash
# The adapter the official conformance suite runs as its "client": the suite
# appends the scenario's server URL and sets MCP_CONFORMANCE_SCENARIO; this
# does with mcp-cli what a user would in that scenario.
set -uo pipefail
url="${!#}"
bin="${MCP_CLI_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/target/debug/mcp-cli}"
case "${MCP_CONFORMANCE_SCENARIO:-}" in
  tools_call) exec "$bin" call "$url" add_numbers '{"a": 2, "b": 3}' ;;
  sse-retry) exec "$bin" call "$url" test_reconnection '{}' ;;
  elicitation-sep1034-client-defaults)
    exec "$bin" call "$url" test_client_elicitation_defaults '{}' ;;
  *)
    # What every user does first: the server's tools; then a call of each
    # (the auth scenarios guard one tool behind their authorization server).
    listing=$("$bin" --json info "$url") || exit
    tools=$(printf '%s' "$listing" | node -e '
      let text = ""; process.stdin.on("data", d => text += d).on("end", () => {
        for (const tool of JSON.parse(text).tools || []) console.log(tool.name);
      });')
    status=0
    for tool in $tools; do
      "$bin" call "$url" "$tool" '{}' || status=$?
    done
    exit "$status" ;;
esac
