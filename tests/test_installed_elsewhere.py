"""The kit as an adopter meets it: installed (not editable) in a fresh virtual environment, in a
project of its own that has a `suite` package, a `reference.py`, `pythonpath = .` and its own
tests, run with the README's adopter commands, verbatim, from that project's folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
MARKER = "<!-- adopter commands: tests/test_installed_elsewhere.py runs these, verbatim -->"

# Correct, but written unlike the reference: einsum for the sums, triu for the mask.
MY_ATTENTION = """
import numpy as np


def softmax(x, axis=-1):
    z = np.moveaxis(x, axis, -1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.moveaxis(e / np.einsum("...j->...", e)[..., None], -1, axis)


def create_causal_mask(seq_len):
    return np.triu(np.full((seq_len, seq_len), -np.inf), k=1)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = np.einsum("...qd,...kd->...qk", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return np.einsum("...qk,...kd->...qd", weights, v), weights
"""

# Normalises over the first axis, not the one asked for.
BROKEN_ATTENTION = MY_ATTENTION.replace("z.max(axis=-1, keepdims=True)", "z.max(axis=0, keepdims=True)").replace(
    'np.einsum("...j->...", e)[..., None]', "e.sum(axis=0, keepdims=True)"
)

# The project's own code and tests, with names the kit once used for itself.
PROJECT = {
    "pytest.ini": "[pytest]\npythonpath = .\ntestpaths = tests\n",
    "suite/__init__.py": "",
    "suite/helpers.py": "def double(x):\n    return 2 * x\n",
    "reference.py": "ANSWER = 42\n",
    "tests/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef dtype():\n    return 'ours'\n",
    "tests/test_own.py": (
        "import reference\nfrom suite.helpers import double\n\n\n"
        "def test_own_package():\n    assert double(reference.ANSWER) == 84\n\n\n"
        "def test_own_fixture(dtype):\n    assert dtype == 'ours'\n"
    ),
    "my_attention.py": MY_ATTENTION,
    "broken_attention.py": BROKEN_ATTENTION,
}


def readme_commands():
    """The adopter commands of the README: the code block right after the marker, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split(MARKER, 1)[1].split("```", 2)[1]
    return [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.split("#")[0].strip()]


def clean_env(venv):
    """The environment minus what would reach into this checkout or steer pytest, the venv first on PATH."""
    steering = {"PYTHONPATH", "ATTENTION_IMPL", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    env = {key: value for key, value in os.environ.items() if key not in steering}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment holding numpy, pytest, pytest-xdist and the kit (not editable)."""
    base = tmp_path_factory.mktemp("installed")
    # pip builds in the source folder (build/, *.egg-info): build from a copy, leave the checkout alone.
    source = shutil.copytree(ROOT, base / "source", ignore=_not_for_the_build)
    python = base / "venv" / "bin" / "python"
    for step in (
        [sys.executable, "-m", "venv", str(base / "venv")],
        [str(python), "-m", "pip", "install", "-q", "numpy", "pytest", "pytest-xdist"],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)],
    ):
        done = subprocess.run(step, cwd=base, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(step)}\n{done.stdout}\n{done.stderr}"
    return base / "venv"


def _not_for_the_build(directory, names):
    """What a fresh clone lacks: caches and build output, and mutmut's working copies in mutants/."""
    ignored = set(shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__")(directory, names))
    if Path(directory) == ROOT / "mutants":
        ignored |= {name for name in names if not name.endswith(".py") or name == "conftest.py"}
    return ignored


@pytest.fixture
def project(tmp_path):
    for name, text in PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def shell(command, venv, project):
    return subprocess.run(command, shell=True, cwd=project, env=clean_env(venv), capture_output=True, text=True,
                          timeout=600)


def test_one_import_package_lands_in_site_packages(venv):
    site = next((venv / "lib").glob("python*/site-packages"))
    ours = [path.name for path in site.iterdir() if path.name.startswith("attention")]
    assert "attention_conformance" in ours
    for generic in ("suite", "reference", "mutants", "tests", "tools"):
        assert not (site / generic).exists(), generic


def test_the_projects_own_tests_run_untouched_by_the_kit(venv, project):
    done = shell("pytest -W error", venv, project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout and "attention conformance" not in done.stdout


def test_the_readme_commands_pass_a_correct_module(venv, project):
    commands = readme_commands()
    assert any(c.startswith("pytest ") for c in commands) and any(c.startswith("python -m pytest") for c in commands)
    for command in commands:
        done = shell(command, venv, project)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert f"attention conformance: my_attention (--impl) from {project}/my_attention.py" in done.stdout, command
        assert any(line.split()[:2] == ["scaled_dot_product_attention", "conforms"]
                   for line in done.stdout.splitlines()), command


@pytest.mark.parametrize("runner", ["pytest", "python -m pytest", "pytest -n 2"])
def test_a_broken_module_fails_with_the_kits_messages(venv, project, runner):
    done = shell(f"{runner} --impl=broken_attention", venv, project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line.split()[:2] == ["softmax", "fails"] for line in done.stdout.splitlines()), done.stdout[-2000:]
    assert "  checked: softmax" in done.stdout and "times what is allowed there" in done.stdout
