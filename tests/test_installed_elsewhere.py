"""The kit as a project uses it: installed (not editable) in a fresh virtual environment, run on
that project's own module from that project's folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# Correct, but written unlike the reference: einsum for the sum, triu for the mask.
MY_ATTENTION = """
import numpy as np


def softmax(x, axis=-1):
    z = np.moveaxis(x, axis, -1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.moveaxis(e / np.einsum("...j->...", e)[..., None], -1, axis)


def create_causal_mask(seq_len):
    return np.triu(np.full((seq_len, seq_len), -np.inf), k=1)
"""

# Normalises over the first axis, not the one asked for.
BROKEN_ATTENTION = """
import numpy as np


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
"""


def clean_env():
    """The environment minus what would reach into this checkout or steer pytest."""
    steering = {"PYTHONPATH", "ATTENTION_IMPL", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    return {key: value for key, value in os.environ.items() if key not in steering}


def run(*args, cwd):
    return subprocess.run(args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    """The interpreter of a fresh virtual environment holding numpy, pytest and the kit (not editable)."""
    base = tmp_path_factory.mktemp("installed")
    # pip builds in the source folder (build/, *.egg-info): build from a copy, leave the checkout alone.
    ignored = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "mutants")
    source = shutil.copytree(ROOT, base / "source", ignore=ignored)
    for step in (
        [sys.executable, "-m", "venv", str(base / "venv")],
        [str(base / "venv/bin/python"), "-m", "pip", "install", "-q", "numpy", "pytest"],
        [str(base / "venv/bin/python"), "-m", "pip", "install", "-q", "--no-deps", str(source)],
    ):
        done = run(*step, cwd=base)
        assert done.returncode == 0, f"{' '.join(step)}\n{done.stdout}\n{done.stderr}"
    return base / "venv/bin/python"


def run_kit(python, project, module, source):
    """`pytest --impl=<module>` in the project, after writing <module>.py there: (exit code, matcher)."""
    (project / f"{module}.py").write_text(source)
    done = run(str(python), "-m", "pytest", f"--impl={module}", cwd=project)
    return done.returncode, pytest.LineMatcher(done.stdout.splitlines())


def outcomes(matcher):
    return pytest.RunResult.parse_summary_nouns(matcher.lines)


def test_the_environment_imports_the_installed_kit_not_the_checkout(python, tmp_path):
    where = "import suite.plugin, reference; print(suite.plugin.__file__, reference.__file__)"
    done = run(str(python), "-c", where, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert all(Path(path).is_relative_to(python.parents[1]) for path in done.stdout.split()), done.stdout


def test_it_runs_the_kits_tests_on_the_projects_own_module(python, tmp_path):
    code, output = run_kit(python, tmp_path, "my_attention", MY_ATTENTION)
    assert code == pytest.ExitCode.OK, output.str()
    output.fnmatch_lines([f"attention conformance: my_attention (--impl) from {tmp_path}/my_attention.py"])
    counts = outcomes(output)
    assert counts["passed"] > 0 and counts["skipped"] > 0, counts  # what it provides ran, the rest skipped
    output.fnmatch_lines(["softmax *conforms (*)", "create_causal_mask *conforms (*)", "split_heads *not provided"])


def test_it_fails_the_projects_broken_module(python, tmp_path):
    code, output = run_kit(python, tmp_path, "broken_attention", BROKEN_ATTENTION)
    assert code == pytest.ExitCode.TESTS_FAILED, output.str()
    assert outcomes(output)["failed"] > 0
    output.fnmatch_lines(["softmax *fails * of * checks"])
