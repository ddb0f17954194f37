"""Fixtures the kit's own tests share."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from filelock import FileLock

import attention_conformance

SUITE = Path(attention_conformance.__file__).parent

# The kit's tests run two at a time (-n 2), most of them as runs of the suite in processes of their
# own: torch's and the BLAS's thread pools, two threads per process, would leave four busy threads
# contending for two cores (tools.margins measured it). Set before any of those processes starts; a
# value the user set is kept.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")


@pytest.fixture(scope="session")
def suite_tests(tmp_path_factory):
    """How many tests each module of the suite holds, from a plain collection of its directory."""
    env = {key: value for key, value in os.environ.items() if key != "ATTENTION_IMPL"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "attention_conformance", str(SUITE), "--collect-only", "-q"],
        cwd=tmp_path_factory.mktemp("collect"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts = Counter(Path(line.split("::")[0]).name for line in listing.splitlines() if "::" in line)
    assert counts["test_softmax.py"] and counts.total() > counts["test_softmax.py"], listing
    return counts


@pytest.fixture(scope="session")
def once(request, tmp_path_factory):
    """once(key, produce): what produce() returns (JSON data), produced once in the whole session.

    Under pytest-xdist every worker builds its own session fixtures; the first worker to ask for a
    key produces it, under a file lock, in the folder all workers of the session share, and the
    others wait and read it there (pytest-xdist's documented pattern for session fixtures that must
    run once). Without xdist, the session's own temporary folder plays that part."""
    shared = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):
        shared = shared.parent

    def produce_once(key, produce):
        path = shared / f"once-{key}.json"
        with FileLock(f"{path}.lock"):
            if not path.exists():
                path.write_text(json.dumps(produce()))
            return json.loads(path.read_text())

    return produce_once


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without xdist, never called
def pytest_xdist_make_scheduler(config, log):
    """Under -n, work stealing unless another --dist was asked for: a few tests here take minutes
    (the catalogue's runs, the kernel profiles, the mutation gate), and a worker that runs out of
    tests takes pending ones from the other, instead of idling while it works through a queue."""
    if config.getoption("dist") == "load":  # xdist's default under -n
        from xdist.scheduler import WorkStealingScheduling

        return WorkStealingScheduling(config, log)
    return None


# tests/kernels holds the tiled kernels the kernel tests import and run the suite on.
sys.path.append(str(Path(__file__).parent / "kernels"))
