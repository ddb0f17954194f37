"""The mutation gate: mutmut's mutants of the reference all die under the suite, and the
recipe for adopters (python -m attention_conformance.mutation) works on code that is not the
reference and reports in the Stryker mutation-testing-report-schema format."""

import ast
import fnmatch
import json
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import jsonschema

from attention_conformance.mutation import PYTEST_ARGS
from attention_conformance.stryker import statuses

ROOT = Path(__file__).parents[1]
SCHEMA = json.loads((ROOT / "tests" / "data" / "mutation-testing-report-schema.json").read_text())


def mutation(*args, cwd=ROOT):
    command = [sys.executable, "-m", "attention_conformance.mutation", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def counts(report):
    """{Stryker status: number of mutants} of a report."""
    return Counter(mutant["status"] for file in report["files"].values() for mutant in file["mutants"])


def test_the_suite_kills_every_mutmut_mutant_of_the_reference(tmp_path):
    done = mutation("reference", "--report", str(tmp_path / "report.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    found = counts(report)
    assert found["Killed"] > 100 and set(found) == {"Killed"}, found  # the whole reference, every mutant killed
    mutated = {path for path, file in report["files"].items() if file["mutants"]}
    assert mutated == {f"reference/{name}.py" for name in ("attention", "backward", "decode", "heads", "modified", "packed", "paged", "position",
                                                                        "serving")}
    assert "PASS: score 100.0%" in done.stdout
    assert (tmp_path / "report.html").is_file() and f"page: {tmp_path / 'report.html'}" in done.stdout


def forward_parts_of_loop_attention():
    """tests/loop_attention.py without its layers and decoder, whose mutants take most of the time
    and add nothing to what the recipe's test checks: the source of the functions kept, as written."""
    source = (ROOT / "tests" / "loop_attention.py").read_text()
    lines = source.splitlines()
    layers = {"_layer", "multi_head_attention", "causal_self_attention", "grouped_query_attention",
              "cross_attention", "decode_chunk", "decode_step"}  # fmt: skip
    kept = [node for node in ast.parse(source).body if getattr(node, "name", None) not in layers]
    return "\n\n\n".join("\n".join(lines[node.lineno - 1 : node.end_lineno]) for node in kept) + "\n"


def test_the_report_places_each_mutant_where_its_function_changed_and_the_recipe_fails_below_its_threshold(tmp_path):
    # One run serves both: the default threshold, 100%, is not met on loop_attention (a rotary
    # loop's equivalent mutants survive), and the report is written all the same.
    (tmp_path / "loop_attention.py").write_text(forward_parts_of_loop_attention())
    done = mutation("loop_attention", cwd=tmp_path)
    assert done.returncode == 1 and "FAIL: score" in done.stdout, done.stdout + done.stderr
    report = json.loads((tmp_path / "mutation-report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    (file,) = report["files"].values()
    lines = file["source"].splitlines()
    for mutant in file["mutants"]:
        start, end = mutant["location"]["start"], mutant["location"]["end"]
        assert 1 <= start["line"] <= end["line"] <= len(lines), mutant
        if start["line"] == end["line"] and start["column"] < end["column"]:
            replaced = lines[start["line"] - 1][start["column"] - 1 : end["column"] - 1]
            assert mutant["description"].startswith(repr(replaced)), mutant
    survivors = [m["id"] for m in file["mutants"] if m["status"] == "Survived"]
    found = counts(report)
    assert sum(found.values()) > 50 and found["Killed"] + len(survivors) == sum(found.values()), found
    assert f"score {100 * found['Killed'] / sum(found.values()):.1f}%" in done.stdout
    for name in survivors:  # each survivor comes with the diff that made it
        assert f"# {name}: survived\n--- loop_attention.py" in done.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "loop_attention.py", "mutation-report.html", "mutation-report.json"]  # the report and its page


def test_the_recipe_names_a_module_it_cannot_find(tmp_path):
    done = mutation("no_such_attention", cwd=tmp_path)
    assert done.returncode == 1 and "no module named 'no_such_attention'" in done.stderr


def test_mutmut_run_at_the_root_uses_the_same_settings_as_the_recipe():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert settings["source_paths"] == ["reference/"]
    assert settings["also_copy"] == ["suite/"]
    assert settings["pytest_add_cli_args_test_selection"] == ["suite/"]
    assert settings["pytest_add_cli_args"] == ["--impl=reference", "--impl-dtype=float64", *PYTEST_ARGS]


def test_mutmut_run_at_the_root_kills_the_mutants_it_is_given_and_leaves_git_status_clean(tmp_path):
    # A commit of the tracked files, as a fresh clone has them: mutmut runs there, not in this tree.
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    for name in files.stdout.split():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    git = ["git", "-c", "user.name=kit", "-c", "user.email=kit@localhost"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
        subprocess.run([*git, *step], cwd=tmp_path, check=True)
    # The mutants of one module: the recipe's run above kills them all, with the same settings
    # (the test before); this one proves that mutmut's own command finds and uses them.
    chosen = "reference.decode.*"
    run = subprocess.run([sys.executable, "-m", "mutmut", "run", chosen], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = Counter(status for name, status in statuses(tmp_path).items() if fnmatch.fnmatch(name, chosen))
    assert found["killed"] > 30 and set(found) == {"killed"}, found
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, capture_output=True, text=True)
    assert status.stdout == "", status.stdout
