#!/usr/bin/env python3
"""Benchmark a cold `call echo` over Streamable HTTP against curl.

The bundled test server serves HTTP on 127.0.0.1 (a port the system picks).
`mcp-cli call <url> echo` runs next to a reference: one `curl` process doing
the same three requests (initialize, notifications/initialized, tools/call)
with `--next`. mcp-cli also opens (and is refused) the standalone event
stream and ends the session with DELETE, as the spec asks: five requests to
curl's three. Runs interleave in shuffled rounds, so machine noise hits all
alike; medians and the ratio mcp-cli / curl are printed. The same is done
over https (a CA made at start, trusted through SSL_CERT_FILE and
--cacert), which shows what TLS costs at start-up.

    python3 bench/http.py            # build release, then measure
    python3 bench/http.py --runs 100 --no-build
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
MCP_CLI = os.path.join(RELEASE, "mcp-cli")
TEST_SERVER = os.path.join(RELEASE, "mcp-test-server")
SESSION = "bench-session"


def serve(state, *switches):
    process = subprocess.Popen(
        [TEST_SERVER, "--http", "--http-session-id", SESSION, "--state", state, *switches],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = process.stdout.readline().decode().strip()
    return process, line.removeprefix("listening on ")


def curl_argv(url, cacert):
    body = lambda value: json.dumps(value, separators=(",", ":"))
    common = ["-sS", "-o", "/dev/null", "-H", "Content-Type: application/json",
              "-H", "Accept: application/json, text/event-stream"]
    if cacert:
        common += ["--cacert", cacert]
    requests = [
        (body({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "curl", "version": "0"}}}), False),
        (body({"jsonrpc": "2.0", "method": "notifications/initialized"}), True),
        (body({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "hi"}}}), True),
    ]
    argv = ["curl"]
    for index, (data, session) in enumerate(requests):
        if index:
            argv.append("--next")
        argv += common + ["-d", data, url]
        if session:
            argv += ["-H", f"Mcp-Session-Id: {SESSION}", "-H", "MCP-Protocol-Version: 2025-11-25"]
    return argv


def timed(argv, env):
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(argv)}\n{result.stderr.decode()}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed for the reference")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)
    state = tempfile.mkdtemp(prefix="mcp-bench-http-")
    plain, plain_url = serve(os.path.join(state, "plain"))
    tls, tls_url = serve(os.path.join(state, "tls"), "--http-tls", "ok")
    ca = os.path.join(state, "tls", "ca.pem")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_") and not k.upper().endswith("_PROXY")}
    tls_env = dict(env, SSL_CERT_FILE=ca)
    sides = {
        "mcp-cli http": ([MCP_CLI, "call", plain_url, "echo", '{"text":"hi"}'], env),
        "curl http": (curl_argv(plain_url, None), env),
        "mcp-cli https": ([MCP_CLI, "call", tls_url, "echo", '{"text":"hi"}'], tls_env),
        "curl https": (curl_argv(tls_url, ca), env),
    }
    times = {name: [] for name in sides}
    try:
        for name, (argv, side_env) in sides.items():
            timed(argv, side_env)  # warm the page cache
        for _ in range(args.runs):
            order = list(sides.items())
            random.shuffle(order)
            for name, (argv, side_env) in order:
                times[name].append(timed(argv, side_env))
    finally:
        for process in (plain, tls):
            process.kill()
            process.wait()
        shutil.rmtree(state, ignore_errors=True)
    median = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"{'side':<14} {'median ms':>10}   ({args.runs} runs each, interleaved)")
    for name, value in median.items():
        print(f"{name:<14} {value:>10.2f}")
    print(f"ratio mcp-cli/curl, http:  {median['mcp-cli http'] / median['curl http']:.3f}")
    print(f"ratio mcp-cli/curl, https: {median['mcp-cli https'] / median['curl https']:.3f}")
    print(f"TLS start-up cost, mcp-cli: +{median['mcp-cli https'] - median['mcp-cli http']:.2f} ms"
          f" (curl: +{median['curl https'] - median['curl http']:.2f} ms)")
    print(f"binary size: {os.path.getsize(MCP_CLI)} bytes")


if __name__ == "__main__":
    main()
