"""Fixtures the kit's own tests share."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import attention_conformance

SUITE = Path(attention_conformance.__file__).parent


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


# tests/kernels holds the tiled kernels the kernel tests import and run the suite on.
sys.path.append(str(Path(__file__).parent / "kernels"))
