"""One Python process that runs pytest again and again: python -m tools.runner.

tools.kill_matrix.run_many starts one per worker and sends it one request a line on stdin,
{"args": [pytest's arguments], "output": FILE}; it runs pytest.main(args) with file descriptors
1 and 2 written to FILE, then answers one line, {"returncode": N}, on the stdout it was started
with. A run that ends the process (the kit's watchdog gives up on a call that will not stop)
answers nothing: the process's exit code stands for the run's, as for a process of its own.

Why: a process per run spends about as long starting Python, importing numpy and pytest and
loading the plugins as the suite's own session takes on a mutant (README, Performance).
Why it is sound: each pytest.main builds its own config, plugin manager and session, and the
kit keeps a run's state in them (the plugin in config.stash, each check in its item's stash).
What outlives a run is only what pytest reuses from sys.modules, and the kit's module-level
caches (diagnosis.catalogue and reached_by, oracle.plain), which depend on the kit's files alone,
never on the implementation or the options of a run. tests/test_catalogue.py compares a
mutant's run here, after another implementation's, with its run in a process of its own.
"""

import json
import os
import sys
import traceback

import pytest


def run(args, output):
    """pytest.main(args) with what it prints (also at the file-descriptor level) written to `output`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(output, "w") as file:
            os.dup2(file.fileno(), 1)
            os.dup2(file.fileno(), 2)
            try:
                return int(pytest.main(args))
            except BaseException:  # noqa: BLE001  (pytest.main catches its own errors: this one is the runner's: show it)
                traceback.print_exc()
                return int(pytest.ExitCode.INTERNAL_ERROR)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def main():
    # Copies of the channels: pytest points fds 0 to 2 elsewhere during a run, and fd 1 is lent to its output.
    requests, replies = os.fdopen(os.dup(0)), os.fdopen(os.dup(1), "w", buffering=1)
    for line in requests:
        request = json.loads(line)
        replies.write(json.dumps({"returncode": run(request["args"], request["output"])}) + "\n")


if __name__ == "__main__":
    main()
