#!/usr/bin/env bash
# The adapter the official conformance suite runs as its "client": the suite
# appends the scenario's server URL and sets MCP_CONFORMANCE_SCENARIO (and,
# for some auth scenarios, MCP_CONFORMANCE_CONTEXT: a client registered for
# mcp-cli); this does with mcp-cli what a user would in that scenario.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="${!#}"
bin="${MCP_CLI_BIN:-$here/../../target/debug/mcp-cli}"
scenario="${MCP_CONFORMANCE_SCENARIO:-}"
# Tokens of this scenario alone; the login page "opened" by browser.sh.
state="$(mktemp -d)"
trap 'rm -rf "$state"' EXIT
export XDG_STATE_HOME="$state" BROWSER="$here/browser.sh" MCP_NO_DAEMON=1
target="$url"
config=()
# A client that has its metadata document hosted says so in its entry.
if [ "$scenario" = auth/basic-cimd ]; then
  export MCP_CONFORMANCE_CONTEXT='{"client_metadata_url":"https://conformance-test.local/client-metadata.json"}'
fi
if [ -n "${MCP_CONFORMANCE_CONTEXT:-}" ]; then
  # A registered client, in the server's entry as a user writes it.
  grant=authorization_code
  case "$scenario" in auth/client-credentials-*) grant=client_credentials ;; esac
  MCP_URL="$url" GRANT="$grant" node -e '
    const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT);
    const oauth = { grant: process.env.GRANT };
    if (context.client_id) oauth.clientId = context.client_id;
    if (context.client_metadata_url) oauth.clientMetadataUrl = context.client_metadata_url;
    if (context.client_secret) oauth.clientSecret = context.client_secret;
    if (context.private_key_pem) oauth.privateKey = context.private_key_pem;
    if (context.signing_algorithm) oauth.signingAlgorithm = context.signing_algorithm;
    const config = { mcpServers: { server: { url: process.env.MCP_URL, oauth } } };
    require("fs").writeFileSync(process.argv[1], JSON.stringify(config));
  ' "$state/mcp_servers.json" || exit
  config=(-c "$state/mcp_servers.json")
  target=server
fi
# A verb; when it says AUTH_REQUIRED (exit 4), log in as it suggests and
# run it again, at most twice.
with_login() {
  local status tries=0
  while :; do
    "$bin" "${config[@]}" "$@"
    status=$?
    [ "$status" -eq 4 ] && [ "$tries" -lt 2 ] || return "$status"
    tries=$((tries + 1))
    "$bin" "${config[@]}" auth "$target" || return
  done
}
case "$scenario" in
  tools_call) exec "$bin" call "$url" add_numbers '{"a": 2, "b": 3}' ;;
  sse-retry) exec "$bin" call "$url" test_reconnection '{}' ;;
  elicitation-sep1034-client-defaults)
    exec "$bin" call "$url" test_client_elicitation_defaults '{}' ;;
  *)
    # What every user does first: the server's tools; then a call of each
    # (the auth scenarios guard one tool behind their authorization server).
    listing=$(with_login --json info "$target") || exit
    tools=$(printf '%s' "$listing" | node -e '
      let text = ""; process.stdin.on("data", d => text += d).on("end", () => {
        for (const tool of JSON.parse(text).tools || []) console.log(tool.name);
      });')
    status=0
    for tool in $tools; do
      with_login call "$target" "$tool" '{}' || status=$?
    done
    exit "$status" ;;
esac
