#!/usr/bin/env python3
"""Benchmark mcp-cli against the least an MCP client can do.

Two baselines: `raw` (bench/reference-client: hand-written JSON-RPC lines,
no parsing, kill and exit) and `rmcp` (bench/rmcp-reference: the same
steps through the rmcp SDK that mcp-cli is built on). Each scenario runs
interleaved, in rounds of one run per side in a shuffled order, so that
machine noise hits all alike, and prints medians and the ratios mcp-cli / baseline. Peak RSS
of the mcp-cli process (VmHWM, not its servers) is sampled in separate,
untimed runs.

    python3 bench/run.py            # build release, run every scenario
    python3 bench/run.py --runs 50  # more runs per side (ten times as many
                                    # for the cold call, which is short)

Scenarios:
  cold-call   `call echo` on the bundled server: spawn, initialize, call, exit
  list        listing server-everything, against baselines that kill the
              server right after `tools/list`
  large       a 5 MB tool result through a pipe
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
REFERENCE = os.path.join(RELEASE, "mcp-reference-client")
RMCP_REFERENCE = os.path.join(RELEASE, "mcp-rmcp-reference")
TEST_SERVER = os.path.join(RELEASE, "mcp-test-server")
EVERYTHING = os.path.join(ROOT, "tests", "servers", "node_modules", ".bin", "mcp-server-everything")


# Where the measured commands write: pipes read to the end (as a script
# would), or /dev/null with --discard-output.
OUTPUT = subprocess.PIPE


def timed(argv, env):
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=OUTPUT, stderr=OUTPUT)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(argv)}\n{(result.stderr or b'').decode()}")
    return elapsed


def peak_rss_kib(argv, env):
    """VmHWM of the process itself, sampled until it exits."""
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sampled_peak_kib(process)


def sampled_peak_kib(process):
    """VmHWM of a running process (not its children), sampled until it exits."""
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.0005)
    return peak


def scenario(name, ours, raw, rmcp, env, runs):
    sides = {"mcp-cli": ours, "raw": raw, "rmcp": rmcp}
    for _ in range(2):  # warm the page cache and npm's module cache
        for argv in sides.values():
            timed(argv, env)
    times = {side: [] for side in sides}
    # Each round runs the three in a new random order: a process runs a
    # little differently after a heavier one, and a fixed order would
    # charge that to the same side every time.
    order = list(sides)
    for _ in range(runs):
        random.shuffle(order)
        for side in order:
            times[side].append(timed(sides[side], env))
    rss = max(peak_rss_kib(ours, env) for _ in range(5))
    median = {side: statistics.median(values) * 1000 for side, values in times.items()}
    print(f"{name:<10} mcp-cli {median['mcp-cli']:8.2f} ms | raw {median['raw']:8.2f} ms "
          f"(x{median['mcp-cli'] / median['raw']:.3f}) | rmcp {median['rmcp']:8.2f} ms "
          f"(x{median['mcp-cli'] / median['rmcp']:.3f}) | mcp-cli peak RSS {rss / 1024:4.1f} MiB "
          f"({runs} runs each)")
    return {"scenario": name, "median_ms": median, "peak_rss_mib": rss / 1024, "runs": runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only", choices=["cold-call", "list", "large"],
                        help="run this scenario alone")
    parser.add_argument("--discard-output", action="store_true",
                        help="send stdout and stderr to /dev/null instead of reading pipes")
    args = parser.parse_args()
    if args.discard_output:
        global OUTPUT
        OUTPUT = subprocess.DEVNULL
    if not args.no_build:
        # mcp-cli and the test server as the test suite builds them (the
        # workspace), then each baseline on its own: they are workspaces of
        # their own, so that their features (tokio's `process`, for the rmcp
        # baseline, which adds a signal driver to every runtime) are not
        # unified into mcp-cli's: that binary's cold call measured 5-6%
        # slower than the installed one.
        subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)
        for baseline in ("reference-client", "rmcp-reference"):
            subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                            os.path.join(ROOT, "bench", baseline, "Cargo.toml"),
                            "--target-dir", os.path.join(ROOT, "target")], cwd=ROOT, check=True)
        subprocess.run([os.path.join(ROOT, "tests", "servers", "install.sh")], cwd=ROOT, check=True,
                       env={**os.environ, "SKIP_VERIFY": "1"})
    work = tempfile.mkdtemp(prefix="mcp-cli-bench-")
    # The binaries run as installed copies (`cargo install` copies too), all
    # alike, from one directory: the file the linker wrote is paged in with
    # more faults (146 against 132 for a cold call of mcp-cli, measured),
    # which would charge the larger binaries for how the linker writes.
    global MCP_CLI, REFERENCE, RMCP_REFERENCE, TEST_SERVER
    MCP_CLI, REFERENCE, RMCP_REFERENCE, TEST_SERVER = (
        shutil.copy2(path, work) for path in (MCP_CLI, REFERENCE, RMCP_REFERENCE, TEST_SERVER))
    config = os.path.join(work, "mcp_servers.json")
    with open(config, "w") as file:
        json.dump({"mcpServers": {
            "demo": {"command": TEST_SERVER},
            "everything": {"command": EVERYTHING, "args": ["stdio"]},
        }}, file)
    # A cold call, as the baselines make it: no daemon keeping the server
    # warm (bench/daemon.py measures that).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env["MCP_NO_DAEMON"] = "1"
    # Listing one server: a config with only server-everything.
    only_everything = os.path.join(work, "everything.json")
    with open(only_everything, "w") as file:
        json.dump({"mcpServers": {"everything": {"command": EVERYTHING, "args": ["stdio"]}}}, file)

    echo = '{"text":"hello"}'
    scenarios = {
        "cold-call": lambda: scenario(
                 "cold-call",
                 [MCP_CLI, "-c", config, "call", "demo", "echo", echo],
                 [REFERENCE, "call", "echo", echo, "--", TEST_SERVER],
                 [RMCP_REFERENCE, "call", "echo", echo, "--", TEST_SERVER], env, args.runs * 10),
        "list": lambda: scenario(
                 "list",
                 [MCP_CLI, "-c", only_everything],
                 [REFERENCE, "list", "--", EVERYTHING, "stdio"],
                 [RMCP_REFERENCE, "list", "--", EVERYTHING, "stdio"], env, args.runs),
        "large": lambda: scenario(
                 "large",
                 [MCP_CLI, "-c", config, "call", "demo", "huge", '{"bytes":5000000}'],
                 [REFERENCE, "call", "huge", '{"bytes":5000000}', "--", TEST_SERVER],
                 [RMCP_REFERENCE, "call", "huge", '{"bytes":5000000}', "--", TEST_SERVER],
                 env, args.runs),
    }
    try:
        results = [run() for name, run in scenarios.items() if args.only in (None, name)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
