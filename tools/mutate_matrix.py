"""The attention-aware operators on the correct implementations the kit's tests hold:
python -m tools.mutate_matrix [LABEL...].

Runs `attention_conformance.mutate` (the kit as the tests) on each target from its own folder, as an
adopter would, writes what became of every mutant to docs/mutate-matrix.json and the table and the
survivors into the README, and prints both. A target's file may lie outside the kit:
examples/llama's is transformers' own modeling_llama.py, switched in wherever it is imported.
"""

import collections
import importlib.util
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from attention_conformance import mutate
from tools.kill_matrix import README, ROOT

OUTPUT = ROOT / "docs" / "mutate-matrix.json"
BEGIN = "<!-- mutate matrix: python -m tools.mutate_matrix -->"
END = "<!-- end of the mutate matrix -->"


@dataclass(frozen=True)
class Target:
    label: str
    folder: str  # where it runs, relative to the kit
    paths: tuple  # the files mutated, relative to the folder ("transformers:" + a module: that module's file)
    impl: str
    dtype: str


TARGETS = (
    Target("loops and einsum (tests/loop_attention.py)", "tests", ("loop_attention.py",), "loop_attention", "float64"),
    Target("tiled kernel (tests/kernels/tiled.py)", "tests/kernels", ("tiled.py",), "tiled:small", "float64"),
    Target("PyTorch adapter (adapters/torch_attention.py)", "suite/adapters", ("torch_attention.py",),
           "attention_conformance.adapters.torch_attention", "float64"),
    Target("examples/pytorch", "examples/pytorch", ("my_model.py", "conformance_adapter.py"), "conformance_adapter",
           "float32"),
    Target("examples/llama (transformers' modeling_llama.py)", "examples/llama",
           ("module:transformers.models.llama.modeling_llama", "conformance_adapter.py"), "conformance_adapter", "float32"),
)


def main(argv=None):
    labels = argv if argv is not None else sys.argv[1:]
    chosen = [target for target in TARGETS if not labels or any(label in target.label for label in labels)]
    found = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    for target in chosen:
        start = time.perf_counter()
        with _in(ROOT / target.folder):
            results = mutate.run([_path(path) for path in target.paths], target.impl, dtype=target.dtype, jobs=2)
        if results is None:
            sys.exit(f"the kit fails {target.label} unmutated")
        found[target.label] = _summary(results, time.perf_counter() - start)
    OUTPUT.write_text(json.dumps(found, indent=2) + "\n")
    text = table(found)
    print(text)
    _write_readme(text)


@contextmanager
def _in(folder):
    here = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


def _path(path):
    """A file named as is, or "module:NAME" for an installed module's file."""
    if path.startswith("module:"):
        return importlib.util.find_spec(path.partition(":")[2]).origin
    return path


def _summary(results, seconds):
    statuses = collections.Counter(result.status for result in results)
    killed = [result for result in results if result.status == "killed"]
    return {
        "mutants": len(results),
        "families": sorted({result.mutant.family for result in results}),
        "statuses": dict(statuses),
        "score": round(mutate.score(results), 1),
        "naming": dict(collections.Counter(result.naming for result in killed)),
        "seconds": round(seconds),
        "mutants_by_id": [
            {"file": Path(result.mutant.file).name, "line": result.mutant.line, "family": result.mutant.family,
             "operator": result.mutant.operator, "change": f"{result.mutant.original} -> {result.mutant.replacement}",
             "stands_for": list(result.mutant.mistakes), "status": result.status, "named": result.named,
             "described": result.described, "naming": result.naming if result.status == "killed" else None}
            for result in results
        ],
    }


def table(found):
    lines = ["| implementation | mutants | families | killed | survived | equivalent | timeout | score | "
             "named right | named wrong | described | not named |", "|" + "---|" * 12]
    for label, entry in found.items():
        s, n = collections.Counter(entry["statuses"]), collections.Counter(entry["naming"])
        lines.append(f"| {label} | {entry['mutants']} | {len(entry['families'])} | {s['killed']} | {s['survived']} | "
                     f"{s['equivalent']} | {s['timeout']} | {entry['score']:.1f}% | {n['right']} | {n['wrong']} | "
                     f"{n['described']} | {n['none']} |")
    total = _totals(found)
    lines.append(f"| **all** | {total['mutants']} | {len(total['families'])} | {total['killed']} | {total['survived']} | "
                 f"{total['equivalent']} | {total['timeout']} | {total['score']:.1f}% | {total['right']} | "
                 f"{total['wrong']} | {total['described']} | {total['none']} |")
    lines += ["", "Survivors, wrong names and mutants killed without a name (file:line, family: change):", ""]
    for label, entry in found.items():
        for m in entry["mutants_by_id"]:
            if m["status"] == "survived" or m["naming"] in ("wrong", "none"):
                what = m["status"] if m["status"] == "survived" else f"killed, {m['naming']}"
                named = f" (named {', '.join(m['named'])}; stands for {', '.join(m['stands_for'])})" if m["named"] else ""
                lines.append(f"- {label}: `{m['file']}:{m['line']}`, {m['family']}: `{m['change']}`: {what}{named}")
    return "\n".join(lines)


def _totals(found):
    entries = list(found.values())
    statuses = sum((collections.Counter(e["statuses"]) for e in entries), collections.Counter())
    naming = sum((collections.Counter(e["naming"]) for e in entries), collections.Counter())
    judged = statuses["killed"] + statuses["survived"] + statuses["timeout"]
    return {"mutants": sum(e["mutants"] for e in entries), "families": set().union(*(e["families"] for e in entries)),
            **{k: statuses[k] for k in ("killed", "survived", "equivalent", "timeout")},
            "score": 100.0 * (judged - statuses["survived"]) / judged if judged else 100.0,
            **{k: naming[k] for k in ("right", "wrong", "described", "none")}}


def _write_readme(text):
    readme = README.read_text()
    if BEGIN not in readme:
        return
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
