"""The mutation gate: mutmut's mutants of the reference all die under the suite, and the
recipe for adopters (python -m suite.mutation) works on code that is not the reference."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from suite.mutation import PYTEST_ARGS

ROOT = Path(__file__).parents[1]


def mutation(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "suite.mutation", *args], cwd=cwd, capture_output=True, text=True)


def counts(output):
    """{"total": n, "killed": n, ...} from the report's counts line."""
    line = re.search(r"^  total .*$", output, re.MULTILINE).group(0)
    return {name: int(n) for n, name in ((n, name.strip()) for name, n in re.findall(r"([a-z ]+) (\d+)", line))}


def test_the_suite_kills_every_mutmut_mutant_of_the_reference():
    done = mutation("reference")
    assert done.returncode == 0, done.stdout + done.stderr
    found = counts(done.stdout)
    assert found["total"] > 100, done.stdout  # the whole reference was mutated
    assert found["killed"] == found["total"], done.stdout
    assert "PASS: score 100.0%" in done.stdout


def test_the_recipe_reports_the_survivors_of_an_implementation_that_is_not_the_reference(tmp_path):
    shutil.copy(ROOT / "tests" / "loop_attention.py", tmp_path)
    done = mutation("loop_attention", "--threshold", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    found = counts(done.stdout)
    live = re.findall(r"^(loop_attention\.\S+): survived$", done.stdout, re.MULTILINE)
    assert found["total"] > 50 and found["killed"] + len(live) == found["total"], done.stdout
    score = 100 * found["killed"] / found["total"]
    assert f"score {score:.1f}%" in done.stdout
    for name in live:  # each survivor comes with the diff that made it
        assert f"# {name}: survived\n--- loop_attention.py" in done.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "loop_attention.py"]  # the workspace was elsewhere


def test_the_recipe_fails_below_its_threshold(tmp_path):
    shutil.copy(ROOT / "tests" / "loop_attention.py", tmp_path)
    done = mutation("loop_attention", cwd=tmp_path)  # the default threshold, 100%, is not met
    assert done.returncode == 1 and "FAIL: score" in done.stdout, done.stdout + done.stderr


def test_the_recipe_names_a_module_it_cannot_find(tmp_path):
    done = mutation("no_such_attention", cwd=tmp_path)
    assert done.returncode == 1 and "no module named 'no_such_attention'" in done.stderr


def test_mutmut_run_at_the_root_uses_the_same_settings_as_the_recipe():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert settings["source_paths"] == ["reference/"]
    assert settings["also_copy"] == ["suite/"]
    assert settings["pytest_add_cli_args_test_selection"] == ["suite/"]
    assert settings["pytest_add_cli_args"] == ["--impl=reference", *PYTEST_ARGS]


def test_mutmut_run_at_the_root_kills_everything_and_leaves_git_status_clean(tmp_path):
    # A commit of the tracked files, as a fresh clone has them: mutmut runs there, not in this tree.
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    for name in files.stdout.split():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    git = ["git", "-c", "user.name=kit", "-c", "user.email=kit@localhost"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
        subprocess.run([*git, *step], cwd=tmp_path, check=True)
    run = subprocess.run([sys.executable, "-m", "mutmut", "run"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=tmp_path, capture_output=True, text=True
    )
    statuses = re.findall(r"^\s+\S+: (.+)$", results.stdout, re.MULTILINE)
    assert len(statuses) > 100 and set(statuses) == {"killed"}, results.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, capture_output=True, text=True)
    assert status.stdout == "", status.stdout
