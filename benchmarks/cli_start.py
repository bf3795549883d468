"""How long the command line takes to answer, as a user meets it: `nogancolor --help`,
`nogancolor predict --help` and `nogancolor predict missing.png` (which must fail at once),
each the median of several fresh processes. The goals: under 1 s for the two helps, under 3 s
for the mistyped path, on our 2-core CPU.

    python benchmarks/cli_start.py [--repeats 5]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["predict", "--help"], ["predict", "missing.png"], ["train", "nogan", "--help"])


def seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=Path(__file__).resolve().parent.parent,
                   capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    print(f"{cpu}, median of {args.repeats} fresh processes")
    for command in COMMANDS:
        times = [seconds(command) for _ in range(args.repeats)]
        print(f"nogancolor {' '.join(command):24s} {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
