#!/usr/bin/env python3
"""A/B: this checkout's mcp-cli against another commit's, interleaved.

Builds both as `cargo install` would (release, mcp-cli alone; the base in a
git worktree with its own target dir), copies them into one directory and
times them in rounds of one run per side, in a shuffled order, so machine
noise hits both alike. Prints medians and the ratio this / base.

    python3 bench/ab.py --base a59924e            # --version and the cold call
    python3 bench/ab.py --base HEAD~1 --runs 500  # more rounds

Scenarios:
  version     `mcp-cli --version`: start-up and the command line alone
  cold-call   `call echo` on the bundled server: spawn, initialize, call, exit
  http-call   `call <url> echo` on the bundled server over Streamable HTTP
              (127.0.0.1, no token kept: the path every remote call takes)
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


def build(source, target_dir):
    subprocess.run(["cargo", "build", "--release", "-p", "mcp-cli", "--quiet",
                    "--target-dir", target_dir], cwd=source, check=True)
    return os.path.join(target_dir, "release", "mcp-cli")


# The cold path: without the daemon (a build that predates it ignores the
# variable).
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
ENV["MCP_NO_DAEMON"] = "1"
# A home of its own: no config, no kept token of the user's.
ENV["HOME"] = tempfile.mkdtemp(prefix="mcp-cli-ab-home-")
ENV.pop("XDG_STATE_HOME", None)


def timed(argv):
    started = time.perf_counter()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(argv)}\n{result.stderr.decode()}")
    return elapsed


def compare(name, sides, runs):
    for _ in range(3):
        for argv in sides.values():
            timed(argv)
    times = {side: [] for side in sides}
    order = list(sides)
    for _ in range(runs):
        random.shuffle(order)
        for side in order:
            times[side].append(timed(sides[side]))
    median = {side: statistics.median(values) * 1000 for side, values in times.items()}
    print(f"{name:<10} this {median['this']:7.3f} ms | base {median['base']:7.3f} ms | "
          f"this/base x{median['this'] / median['base']:.4f} ({runs} rounds)")
    return median


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--runs", type=int, default=400)
    args = parser.parse_args()
    base_rev = subprocess.run(["git", "rev-parse", args.base], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    this = build(ROOT, os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-p", "mcp-test-server", "--quiet"],
                   cwd=ROOT, check=True)
    server = os.path.join(ROOT, "target", "release", "mcp-test-server")
    worktree = tempfile.mkdtemp(prefix="mcp-cli-ab-")
    subprocess.run(["git", "worktree", "add", "--detach", worktree, base_rev], cwd=ROOT,
                   check=True, capture_output=True)
    work = tempfile.mkdtemp(prefix="mcp-cli-ab-bin-")
    try:
        base = build(worktree, os.path.join(ROOT, "target", "ab-base"))
        # Installed copies, all alike, from one directory.
        this = shutil.copy2(this, os.path.join(work, "mcp-cli-this"))
        base = shutil.copy2(base, os.path.join(work, "mcp-cli-base"))
        server = shutil.copy2(server, work)
        config = os.path.join(work, "mcp_servers.json")
        with open(config, "w") as file:
            json.dump({"mcpServers": {"demo": {"command": server}}}, file)
        echo = '{"text":"hello"}'
        print(f"base {base_rev[:10]}")
        compare("version", {"this": [this, "--version"], "base": [base, "--version"]}, args.runs)
        compare("cold-call", {
            "this": [this, "-c", config, "call", "demo", "echo", echo],
            "base": [base, "-c", config, "call", "demo", "echo", echo],
        }, args.runs)
        http = subprocess.Popen([server, "--http"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = http.stdout.readline().strip().removeprefix("listening on ")
            compare("http-call", {
                "this": [this, "call", url, "echo", echo],
                "base": [base, "call", url, "echo", echo],
            }, args.runs)
        finally:
            http.kill()
            http.wait()
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", worktree], cwd=ROOT)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
