#!/usr/bin/env bash
# The "browser" of the conformance runs (as $BROWSER): it loads the login
# page, which the suite's authorization server answers with a redirect at
# once, and follows that redirect only to mcp-cli's listener on 127.0.0.1.
set -uo pipefail
url="$1"
case "$url" in http://localhost:*|http://127.0.0.1:*) ;; *) echo "browser.sh: not a loopback URL" >&2; exit 1 ;; esac
location=$(curl -s -o /dev/null --max-time 10 -w '%{redirect_url}' "$url") || exit 1
case "$location" in
  http://127.0.0.1:*/callback\?*) exec curl -s -o /dev/null --max-time 10 "$location" ;;
  *) echo "browser.sh: the login page did not redirect to 127.0.0.1" >&2; exit 1 ;;
esac
