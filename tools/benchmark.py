"""Measure the kit on this machine: the suite on the reference, and the whole mutation run.

    python -m tools.benchmark

Prints the machine, the suite's wall time in one process and with `-n 2`, and the mutation
run's wall time, mutant count and rate: the figures the README records.
"""

import os
import platform
import re
import subprocess
import sys
import time

SUITE = [sys.executable, "-m", "pytest", "--impl=reference", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]


def timed(command):
    """(wall seconds, stdout) of a command that must succeed."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds, done.stdout


def suite_line(label, command):
    seconds, out = timed(command)
    summary = out.strip().splitlines()[-1]  # "63 passed in 1.47s": pytest's own test time
    return f"suite on the reference, {label}: {seconds:.2f} s wall ({summary})"


def cpu():
    """The processor's model name where Linux tells it, else the architecture."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main():
    print(f"machine: {cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}")
    print(suite_line("one process", SUITE))
    print(suite_line("-n 2", [*SUITE, "-n", "2"]))
    seconds, out = timed([sys.executable, "-m", "suite.mutation", "reference"])
    total = re.search(r"total (\d+)", out).group(1)
    rate = re.search(r"\(([\d.]+) mutants/s while mutants ran\)", out)
    print(
        f"mutation run (python -m suite.mutation reference): {seconds:.1f} s wall, {total} mutants, "
        f"{int(total) / seconds:.1f} mutants/s overall, {rate.group(1) if rate else '?'} mutants/s while mutants ran"
    )


if __name__ == "__main__":
    main()
