#!/usr/bin/env python3
"""Peak memory and time of one large tool result, by shape.

Calls the bundled test server's `huge` tool for results of each shape
(a text; structuredContent of a dense array `[0,0,...]`, of arrays nested
100 deep, of many small objects) and the 5 MB text of bench/run.py, and
prints for each the median time, the peak RSS of the mcp-cli process alone
(VmHWM, sampled; not its server's), that peak over the message size, and
how the call ended. With --base, the same for another commit's build, in
interleaved rounds.

    python3 bench/memory.py                 # this checkout, 3 rounds
    python3 bench/memory.py --base 82bc257  # and a base commit, side by side
    python3 bench/memory.py --mb 50         # 50 MB results instead of 20
    python3 bench/memory.py --json          # print them with --json
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ab import ENV, ROOT, build  # noqa: E402
from run import sampled_peak_kib  # noqa: E402


def run(argv):
    """Time, peak RSS (KiB) of the process itself, exit code and stderr's first line."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=err, env=ENV)
        peak = sampled_peak_kib(process)
        elapsed = time.perf_counter() - started
        err.seek(0)
        first = err.read().decode(errors="replace").splitlines()[:1]
    return elapsed, peak, process.returncode, (first[0] if first else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="also measure this commit's build")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=20, help="size of the shaped results")
    parser.add_argument("--json", action="store_true",
                        help="print results with --json (all of the result, laid out)")
    args = parser.parse_args()
    this = build(ROOT, os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-p", "mcp-test-server", "--quiet"],
                   cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="mcp-cli-memory-")
    worktree = None
    try:
        sides = {"this": shutil.copy2(this, os.path.join(work, "mcp-cli-this"))}
        if args.base:
            worktree = tempfile.mkdtemp(prefix="mcp-cli-memory-base-")
            subprocess.run(["git", "worktree", "add", "--detach", worktree, args.base],
                           cwd=ROOT, check=True, capture_output=True)
            base = build(worktree, os.path.join(ROOT, "target", "ab-base"))
            sides["base"] = shutil.copy2(base, os.path.join(work, "mcp-cli-base"))
        server = shutil.copy2(os.path.join(ROOT, "target", "release", "mcp-test-server"), work)
        config = os.path.join(work, "mcp_servers.json")
        with open(config, "w") as file:
            json.dump({"mcpServers": {"demo": {"command": server}}}, file)
        size = args.mb * 1_000_000
        cases = [("text 5 MB", "text", 5_000_000)] + [
            (f"{shape} {args.mb} MB", shape, size) for shape in ["text", "dense", "deep", "objects"]
        ]
        print(f"{'case':<16} {'side':<5} {'median s':>9} {'peak MiB':>9} {'peak/size':>9}  outcome")
        for label, shape, nbytes in cases:
            arguments = json.dumps({"bytes": nbytes, "shape": shape})
            results = {side: [] for side in sides}
            order = list(sides)
            for _ in range(args.runs):
                random.shuffle(order)
                for side in order:
                    argv = [sides[side], "-c", config, "call", "demo", "huge", arguments]
                    if args.json:
                        argv.insert(1, "--json")
                    results[side].append(run(argv))
            for side, runs in results.items():
                seconds = statistics.median(r[0] for r in runs)
                peak = statistics.median(r[1] for r in runs) / 1024
                codes = sorted({r[2] for r in runs})
                outcome = "ok" if codes == [0] else f"exit {codes}: {runs[0][3][:60]}"
                print(f"{label:<16} {side:<5} {seconds:9.3f} {peak:9.1f} "
                      f"{peak * 1024 * 1024 / nbytes:9.2f}  {outcome}")
    finally:
        if worktree:
            subprocess.run(["git", "worktree", "remove", "--force", worktree], cwd=ROOT)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
