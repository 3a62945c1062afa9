#!/usr/bin/env python3
"""Benchmark calls through the connection daemon.

In one interleaved run (shuffled rounds, so machine noise hits all alike):
  --version         `mcp-cli --version`: the cost of starting the binary
  warm call         `call demo echo` through the daemon, its server warm
  cold call         the same with MCP_NO_DAEMON=1: a server started per call
  warm listing      `info everything`: server-everything's 13 tools, warm
  cold listing      the same with MCP_NO_DAEMON=1
  warm http call    `call <url> echo` to the bundled server's HTTP front end
                    on 127.0.0.1, its session held by the daemon
  cold http call    the same with MCP_NO_DAEMON=1 (a session per call)
and, in rounds of their own (each needs the daemon stopped first):
  first call        `call demo echo` with no daemon running: it starts
                    the daemon, which starts the server
Medians, the ratios the issue sets goals on, the daemon's resident memory
(it and its servers apart) and the CLI's peak RSS.

    python3 bench/daemon.py            # build release, then measure
    python3 bench/daemon.py --runs 100 --no-build
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
EVERYTHING = os.path.join(ROOT, "tests", "servers", "node_modules", ".bin", "mcp-server-everything")


def timed(argv, env, cwd):
    """Wall time of one run, in seconds."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(argv)}\n{result.stderr.decode()}")
    return elapsed


def run_rss(argv, env, cwd):
    """Peak RSS in KiB of one run, by GNU time (Python's own rusage of a
    child counts the interpreter it forked from)."""
    result = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, check=True)
    return int(result.stderr.decode().strip().splitlines()[-1])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time (/usr/bin/time) is needed to measure peak RSS")
    if not os.path.exists(EVERYTHING):
        sys.exit(f"{EVERYTHING} is missing: run tests/servers/install.sh")
    home = tempfile.mkdtemp(prefix="mcp-bench-daemon-")
    http = subprocess.Popen([TEST_SERVER, "--http", "--state", os.path.join(home, "http")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    url = http.stdout.readline().decode().strip().removeprefix("listening on ")
    runtime = os.path.join(home, "run")
    os.mkdir(runtime, 0o700)
    with open(os.path.join(home, "mcp_servers.json"), "w") as config:
        json.dump({"mcpServers": {
            "demo": {"command": TEST_SERVER},
            "everything": {"command": EVERYTHING, "args": ["stdio"]},
        }}, config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(HOME=home, XDG_RUNTIME_DIR=runtime, XDG_STATE_HOME=os.path.join(home, "state"))
    direct = dict(env, MCP_NO_DAEMON="1")
    config = ["-c", os.path.join(home, "mcp_servers.json")]
    call = [MCP_CLI, *config, "call", "demo", "echo", '{"text":"hi"}']
    listing = [MCP_CLI, *config, "info", "everything"]
    http_call = [MCP_CLI, "call", url, "echo", '{"text":"hi"}']
    sides = {
        "--version": ([MCP_CLI, "--version"], env),
        "warm call": (call, env),
        "cold call": (call, direct),
        "warm listing": (listing, env),
        "cold listing": (listing, direct),
        "warm http call": (http_call, env),
        "cold http call": (http_call, direct),
    }
    times = {name: [] for name in sides}
    first = []
    try:
        for name, (argv, side_env) in sides.items():
            timed(argv, side_env, home)  # warm the page cache, start the daemon
        for _ in range(args.runs):
            order = list(sides.items())
            random.shuffle(order)
            for name, (argv, side_env) in order:
                times[name].append(timed(argv, side_env, home))
        status = json.loads(subprocess.run(
            [MCP_CLI, "daemon", "status", "--json"], env=env, capture_output=True,
            check=True).stdout)
        daemon_rss = rss_kib(status["pid"])
        servers_rss = sum(rss_kib(server["pid"]) for server in status["servers"] if server["pid"])
        cli_rss = max(run_rss(call, env, home) for _ in range(10))
        cli_rss_cold = max(run_rss(call, direct, home) for _ in range(10))
        for _ in range(max(args.runs // 3, 5)):
            subprocess.run([MCP_CLI, "daemon", "stop"], env=env, capture_output=True, check=True)
            first.append(timed(call, env, home))
    finally:
        subprocess.run([MCP_CLI, "daemon", "stop"], env=env, capture_output=True)
        http.kill()
        http.wait()
        shutil.rmtree(home, ignore_errors=True)
    median = {name: statistics.median(values) * 1000 for name, values in times.items()}
    median["first call"] = statistics.median(first) * 1000
    print(f"{'side':<14} {'median ms':>10}   ({args.runs} interleaved runs each; first call: {len(first)})")
    for name, value in median.items():
        print(f"{name:<14} {value:>10.2f}")
    print(f"warm call / --version:     {median['warm call'] / median['--version']:.2f}  (goal <= 2.0)")
    print(f"warm call / cold call:     {median['warm call'] / median['cold call']:.3f}")
    print(f"first call / cold call:    {median['first call'] / median['cold call']:.3f}")
    print(f"warm listing of server-everything: {median['warm listing']:.2f} ms  (goal <= 20)")
    print(f"warm http call / cold http call: {median['warm http call'] / median['cold http call']:.3f}")
    print(f"daemon RSS: {daemon_rss / 1024:.1f} MiB (goal <= 15), its servers: {servers_rss / 1024:.1f} MiB")
    print(f"CLI peak RSS, warm call: {cli_rss / 1024:.1f} MiB (goal <= 8); cold call: {cli_rss_cold / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
