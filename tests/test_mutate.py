"""python -m attention_conformance.mutate: the catalogue's mistakes put into an adopter's source by
attention-aware operators (operators.py), each mutant switched in wherever the file is imported,
judged by the kit or by the adopter's own tests."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from attention_conformance import mutate
from attention_conformance.diagnosis import catalogue
from attention_conformance.operators import mutants_of

ROOT = Path(__file__).resolve().parents[1]
SHAPES_ONLY = ROOT / "tests" / "data" / "shapes_only"
SCHEMA = json.loads((ROOT / "tests" / "data" / "mutation-testing-report-schema.json").read_text())


def changes(source):
    """{(family, original, replacement)} of every mutant of `source`."""
    return {(m.family, m.original, m.replacement) for m in mutants_of(source, "x.py")}


@pytest.mark.parametrize("source, family, original, replacement", [
    # the scale, in numpy, PyTorch and a precomputed factor
    ("s = q @ k.T / np.sqrt(d)", "scale", "q @ k.T / np.sqrt(d)", "(q @ k.T)"),
    ("s = q @ k.T / math.sqrt(d)", "scale", "q @ k.T / math.sqrt(d)", "q @ k.T * math.sqrt(d)"),
    ("s = q @ k.T / math.sqrt(d)", "scale", "q @ k.T / math.sqrt(d)", "(q @ k.T / d)"),
    ("self.scaling = self.head_dim**-0.5", "scale", "self.head_dim**-0.5", "1.0"),
    ("y = F.scaled_dot_product_attention(q, k, v)", "scale", "F.scaled_dot_product_attention(q, k, v)",
     "F.scaled_dot_product_attention(q, k, v, scale=1.0)"),
    # the softmax's axis, as numpy's axis=, PyTorch's dim= and a method's first argument
    ("w = softmax(s, axis=-1)", "softmax axis", "-1", "-2"),
    ("w = F.softmax(s, dim=-1)", "softmax axis", "-1", "-2"),
    ("w = s.softmax(3)", "softmax axis", "3", "2"),
    ("m = z.max(axis=-1, keepdims=True)", "softmax axis", "z.max(axis=-1, keepdims=True)", "z.max(keepdims=True)"),
    # masks: dropped, filled with -1e9, the triangle moved or inverted, a boundary made inclusive
    ("s = scores + mask", "mask", "scores + mask", "scores"),
    ("w = F.softmax(scores + attn_mask, dim=-1)", "mask", "F.softmax(scores + attn_mask, dim=-1)",
     "(F.softmax(scores, dim=-1) + attn_mask)"),
    ("s = s.masked_fill(causal, float('-inf'))", "mask", "float('-inf')", "-1e9"),
    ("s = s.masked_fill(causal, float('-inf'))", "mask", "s.masked_fill(causal, float('-inf'))", "s"),
    ("y = F.scaled_dot_product_attention(q, k, v, is_causal=True)", "causal mask", "True", "False"),
    ("m = np.triu(np.full((n, n), -np.inf), k=1)", "causal mask", "np.triu(np.full((n, n), -np.inf), k=1)",
     "np.triu(np.full((n, n), -np.inf), k=0)"),
    ("m = torch.tril(ones)", "causal mask", "torch.tril(ones)", "torch.tril(ones, -1)"),
    ("m = torch.tril(ones)", "causal mask", "torch.tril(ones)", "torch.triu(ones)"),
    ("m = np.tri(n_q, n_k, dtype=bool)", "causal mask", "np.tri(n_q, n_k, dtype=bool)", "np.tri(n_q, n_k, dtype=bool, k=-1)"),
    ("m = torch.tril(ones, out=o)", "causal mask", "torch.tril(ones, out=o)", "torch.tril(ones, out=o, diagonal=-1)"),
    ("s = np.where(key > query, -np.inf, s)", "causal mask", "key > query", "key >= query"),
    ("lo = i - window + 1", "causal mask", "i - window + 1", "(i - window)"),
    # transposes and heads
    ("s = q @ k.transpose(-2, -1)", "transpose", "k.transpose(-2, -1)", "k"),
    ("s = q @ jnp.swapaxes(k, -1, -2)", "transpose", "jnp.swapaxes(k, -1, -2)", "k"),
    ("y = torch.cat(heads, dim=-1)", "heads", "torch.cat(heads, dim=-1)", "torch.stack(heads).mean(0)"),
    # the cache, the rotation, positions, grouped-query heads, projections
    ("k = torch.cat([past_k, k], dim=2)", "cache", "torch.cat([past_k, k], dim=2)", "k"),
    ("sin = emb.sin()", "rotary", "emb.sin()", "(-emb.sin())"),
    ("r = torch.cat((-x2, x1), dim=-1)", "rotary", "(-x2, x1)", "(x2, (-x1))"),
    ("f = torch.polar(torch.ones_like(a), a)", "rotary", "a", "(-a)"),
    ("t = torch.arange(seq)", "position", "torch.arange(seq)", "torch.arange(1, (seq + 1))"),
    ("v = v.repeat_interleave(g, dim=1)", "grouped query", "v.repeat_interleave(g, dim=1)", "torch.cat([v] * g, dim=1)"),
    ("k = x[:, :, None, :, :].expand(b, n_kv, g, s, d)", "grouped query", "x[:, :, None, :, :].expand(b, n_kv, g, s, d)",
     "x[:, None, :, :, :].expand(b, g, n_kv, s, d)"),
    ("w = p['w_q'].T", "transpose", "p['w_q'].T", "p['w_q']"),
    ("y = y.transpose(1, 2).reshape(b, s, d)", "heads", "y.transpose(1, 2).reshape(b, s, d)", "y.mean(1)"),
    ("y = y.transpose(0, 2, 1, 3).reshape(b, s, d)", "heads", "y.transpose(0, 2, 1, 3).reshape(b, s, d)", "y.mean(1)"),
    ("y = y.permute((0, 2, 1, 3)).reshape(b, s, d)", "heads", "y.permute((0, 2, 1, 3)).reshape(b, s, d)", "y.mean(1)"),
    ("x = jnp.repeat(x, g, axis=1)", "grouped query", "jnp.repeat(x, g, axis=1)", "jnp.concatenate([x] * g, axis=1)"),
    ("q, v = x @ p['w_q'], x @ p['w_v']; k = x @ p['w_k']", "projection", "'w_v'", "'w_k'"),
    ("k, v = self.k_proj(x), self.v_proj(x)", "projection", "v_proj", "k_proj"),
])  # fmt: skip
def test_each_family_has_its_spellings(source, family, original, replacement):
    assert (family, original, replacement) in changes(source + "\n")


def test_sin_and_cos_swap_together_in_an_encoding_and_the_sine_turns_back_in_a_rotation():
    encoding = "def positional_encoding(t):\n    cos = np.cos(t)\n    sin = np.sin(t)\n    return cos, sin\n"
    (swapped,) = mutants_of(encoding, "x.py")  # the sine negated in an encoding is no mistake of the catalogue
    assert swapped.operator == "sin and cos swapped" and swapped.mistakes == ("sin_cos_swapped",)
    assert "np.sin(t)\n    sin = np.cos(t)" in swapped.source and swapped.line == 2
    in_a_class = "class PositionalEncoding:\n    def forward(self, t):\n        return np.sin(t), np.cos(t)\n"
    assert [m.operator for m in mutants_of(in_a_class, "x.py")] == ["sin and cos swapped"]
    rotation = encoding.replace("positional_encoding", "apply_rotary_emb")  # swapped there, no catalogue mistake
    assert [m.operator for m in mutants_of(rotation, "x.py")] == ["rotation sign flipped"]


def test_keys_and_values_are_tiled_together_or_the_values_alone():
    source = "def f(k, v, g):\n    k = k.repeat_interleave(g, dim=1)\n    v = v.repeat_interleave(g, dim=1)\n    return k, v\n"
    found = {m.operator: m for m in mutants_of(source, "x.py")}
    assert set(found) == {"kv heads tiled", "values tiled"}  # the keys alone: no mistake of the catalogue
    assert found["kv heads tiled"].source.count("torch.cat") == 2 and found["kv heads tiled"].mistakes[0] == "kv_heads_tiled"
    assert found["values tiled"].source.count("torch.cat") == 1 and found["values tiled"].mistakes == ("kv_values_tiled",)


def test_an_expression_over_several_lines_is_mutated_whole():
    source = "q = (\n    x\n    .view(b, s, h, d)\n    .transpose(1, 2)\n)\ns = q @ k.transpose(-2, -1) * (\n    d**-0.5\n)\n"
    for mutant in mutants_of(source, "x.py"):
        compile(mutant.source, "x.py", "exec")  # each a whole program
    assert {m.operator for m in mutants_of(source, "x.py")} >= {"transpose removed", "scale dropped"}


def test_code_that_builds_no_attention_is_left_alone():
    source = ("for i in range(n):\n    if i < limit:\n        total = total + i * 2\n"
              "assert a <= b\nname = 'mask'\nw = rows.max()\n")
    assert mutants_of(source, "x.py") == []


def test_a_projection_is_swapped_only_for_a_name_the_file_has_and_not_in_a_table_of_names():
    assert not changes("v = x @ params['w_v']\n")  # no w_k in the file: the mutant would only raise
    # a table that names each weight's module: swapping an entry leaves a module on its own weights
    assert not changes("NAMES = {'w_q': 'q_proj', 'w_k': 'k_proj', 'w_v': 'v_proj'}\n")
    assert ("projection", "'w_v'", "'w_k'") in changes("out = {'v': x @ p['w_v'], 'k': x @ p['w_k']}\n")


def test_a_mutant_keeps_every_other_byte_of_the_file():
    source = (SHAPES_ONLY / "attention.py").read_text()
    for mutant in mutants_of(source, "attention.py"):
        before, after = source.splitlines(), mutant.source.splitlines()
        differ = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        assert len(before) == len(after) and differ == [mutant.line - 1], mutant.describe()


def test_every_mutant_stands_for_mistakes_of_the_catalogue():
    source = "\n".join(row[0] for row in test_each_family_has_its_spellings.pytestmark[0].args[1]) + "\n"
    mutants = mutants_of(source, "x.py")
    assert all(mutant.mistakes for mutant in mutants), [m.describe() for m in mutants if not m.mistakes]
    assert {name for mutant in mutants for name in mutant.mistakes} <= set(catalogue())


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of tests/data/shapes_only as the working folder."""
    shutil.copytree(SHAPES_ONLY, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.syspath_prepend(tmp_path / "project")
    return tmp_path / "project"


def run_mutate(*args):
    return subprocess.run([sys.executable, "-m", "attention_conformance.mutate", *args], capture_output=True, text=True)


def test_own_tests_that_check_shapes_only_let_mistakes_survive_and_the_threshold_fails(project):
    original = (project / "attention.py").read_text()
    run = run_mutate("attention.py", "--tests", f"{sys.executable} -m pytest -q -p no:cacheprovider test_shapes.py",
                     "-j", "2", "--threshold", "80", "--report", "report.json")
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads((project / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    mutants = report["files"]["attention.py"]["mutants"]
    survived = {(m["location"]["start"]["line"], m["mutatorName"]) for m in mutants if m["status"] == "Survived"}
    killed = {(m["location"]["start"]["line"], m["mutatorName"]) for m in mutants if m["status"] == "Killed"}
    assert (20, "scale") in survived and (22, "mask") in survived  # the values, never looked at
    assert (20, "transpose") in killed  # k not transposed: (seq, d_k) @ (seq, d_k) fails at once
    for line, family in survived:
        assert any(row.split()[:2] == ["survived", f"attention.py:{line}"] for row in run.stdout.splitlines())
    assert "FAIL: score" in run.stdout and (project / "report.html").exists()
    assert (project / "attention.py").read_text() == original  # the switch never writes the adopter's tree


def test_the_mutant_is_what_every_import_of_the_file_sees(project):
    (project / "user.py").write_text("from attention import softmax\n")  # imports the file indirectly
    (project / "check.py").write_text("import sys, numpy as np, user\n"
                                      "sys.exit(int(not np.allclose(user.softmax(np.eye(3)).sum(-1), 1)))\n")
    mutant = next(m for m in mutants_of((project / "attention.py").read_text(), "attention.py")
                  if m.operator == "softmax shift over the whole array")
    broken = mutant.source.replace("e / e.sum(axis=axis, keepdims=True)", "e")  # rows no longer sum to 1
    runner = mutate.Runner(None, f"{sys.executable} check.py", "float64", 60, project.parent)
    assert runner.judge(mutant, 0).status == "survived"
    assert runner.judge(type(mutant)(**{**vars(mutant), "source": broken}), 1).status == "killed"


def test_the_switch_is_silent_where_no_other_sitecustomize_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(mutate.SWITCH), "ATTENTION_CONFORMANCE_MUTANT": ""}
    run = subprocess.run([sys.executable, "-c", "import sitecustomize; print(sitecustomize.__file__)"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    # Python prints "Error in sitecustomize" (to stderr) when the one it imports is gone from sys.modules
    assert run.returncode == 0 and run.stderr == "" and run.stdout.strip().startswith(str(mutate.SWITCH)), run


def test_a_projects_own_sitecustomize_still_runs_beside_the_switch(project):
    (project / "sitecustomize.py").write_text("import os\nos.environ['PROJECT_SITE'] = 'ran'\n")
    (project / "check.py").write_text("import os, sys\nsys.exit(0 if os.environ.get('PROJECT_SITE') == 'ran' else 1)\n")
    mutant = mutants_of((project / "attention.py").read_text(), "attention.py")[0]
    runner = mutate.Runner(None, f"{sys.executable} check.py", "float64", 60, project.parent)
    with pytest.MonkeyPatch.context() as patch:  # the project's folder on the path, as a site's would be
        patch.setenv("PYTHONPATH", str(project))
        assert runner.judge(mutant, 0).status == "survived"


def test_the_kit_names_a_killed_mutant_and_tells_an_equivalent_one(project):
    runner = mutate.Runner("attention", None, "float64", 300, project.parent)
    assert runner.baseline() is not None
    by_operator = {m.operator: m for m in mutants_of((project / "attention.py").read_text(), "attention.py")}
    dropped = runner.judge(by_operator["scale dropped"], 0)
    assert (dropped.status, dropped.named, dropped.naming) == ("killed", ["unscaled_scores"], "right")
    assert dropped.killed_by and all("causal_self_attention" in check for check in dropped.killed_by)
    # -1e9 for -inf, where no row is wholly hidden: exp() gives 0 for both, every answer is the same
    assert runner.judge(by_operator["mask fill -1e9"], 1).status == "equivalent"


def test_the_implementation_defaults_to_the_one_module_given_when_it_has_contract_callables(project):
    assert mutate._implementation_in(["attention.py"]) == "attention"
    assert mutate._implementation_in(["test_shapes.py"]) is None
    run = run_mutate("test_shapes.py")
    assert run.returncode != 0 and "--impl MODULE" in run.stderr


def test_the_unmutated_code_must_pass_first(project):
    (project / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    run = run_mutate("attention.py", "--tests", f"{sys.executable} -m pytest -q -p no:cacheprovider test_fails.py")
    assert run.returncode == 2 and "the unmutated code fails" in run.stdout
