"""Regenerate the README's quoted outputs from the runs that print them: python -m tools.readme
(`--check`: only compare, print a diff per block that differs, exit 1 if any).

Each quoted output in README.md sits under a marker naming its command, where it runs and which
lines it keeps, `<!-- output: pytest --impl=... (in FOLDER; kept: ...) -->`, in a fenced block
closed by `<!-- end of output -->`. A block is the command (`$ pytest ...`) and, each after a `...`
that stands for the lines left out, the parts it keeps, in this order:
- "message": the first failing check's message, as pytest prints it (the report's `message`,
  checked to appear verbatim in the output);
- "evidence": that message up to its reproduction (the line `reproduce:` and what follows dropped);
- "summary": the end-of-run summary's lines of the callables the implementation provides.
A line longer than WIDTH characters is cut after its last "; " that fits, and ends with "..."
(the lists of candidate mistakes run to hundreds of characters); a line without one is kept whole.

The quoted command is plain `pytest`; it runs as `python -m pytest` with the kit's plugin loaded by
`-p attention_conformance.plugin` and no other (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1, `-p no:randomly
-p no:cacheprovider`), ATTENTION_IMPL unset and 80 columns, so another installed plugin or a
terminal's width cannot change what is quoted. Normalised, because they vary from run to run: the
run's folder (written ".") and the kit's root ("<kit>") in paths, and pytest's durations ("in ...s").
The slow figures (tools.margins, tools.benchmark) are not rerun here: their own tools print them.
"""

import difflib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tools.kill_matrix import README, ROOT

WIDTH = 160
END = "<!-- end of output -->"
MY_ATTENTION = '''"""A learner's attention in numpy, with one classic slip: the scores are not scaled."""

import numpy as np


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2)  # (..., Lq, Lk); forgotten: / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights
'''
TEMPORARY = "a temporary folder holding tools/readme.py's MY_ATTENTION as my_attention.py"
KEPT = {
    "message": "the first failing check's message",
    "evidence": "the first failing check's message up to its reproduction",
    "summary": "the summary's lines of the callables provided",
}


@dataclass(frozen=True)
class Block:
    """One quoted output: pytest's arguments, the folder it runs in (relative to the kit), the parts
    it keeps (KEPT), and the framework it needs, if any."""

    options: tuple
    folder: str
    keep: tuple
    needs: str = None

    @property
    def command(self):
        return " ".join(("pytest", *self.options))

    @property
    def marker(self):
        kept = "; ".join(KEPT[part] for part in self.keep)
        return f"<!-- output: {self.command} (in {self.folder}; kept: {kept}) -->"


PYTORCH = "examples/pytorch"
BLOCKS = [
    Block(("--impl=my_attention",), TEMPORARY, ("message",)),
    Block(("--impl=conformance_adapter", "--impl-dtype=float32"), PYTORCH, ("summary",), "torch"),
    *(Block((f"--impl=mistakes:{mistake}", f"--impl-dtype={dtype}"), PYTORCH, ("evidence", "summary"), "torch")
      for mistake in ("mask_forgotten", "weights_untransposed") for dtype in ("float32", "float64")),
]


def available(block):
    """Whether the framework the block needs is installed."""
    return block.needs is None or importlib.util.find_spec(block.needs) is not None


def run(block, folder, report):
    """(the report document, pytest's output) of the block's command, run in `folder`."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "80"}
    env.pop("ATTENTION_IMPL", None)  # the quoted command chooses the implementation alone
    command = [sys.executable, "-m", "pytest", "-p", "attention_conformance.plugin", *block.options,
               f"--impl-report={report}", "-p", "no:randomly", "-p", "no:cacheprovider"]
    # check=False: the runs quoted fail on purpose (exit 1); a run that wrote no report is the error
    done = subprocess.run(command, check=False, cwd=folder, env=env, capture_output=True, text=True)
    if not report.exists():
        raise RuntimeError(f"{block.command} wrote no report (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return json.loads(report.read_text()), done.stdout


def first_failure(document, output):
    """The first failing check's message, as the report records it and pytest prints it."""
    failed = [check for check in document["checks"] if check["outcome"] == "failed"]
    if not failed:
        raise LookupError(f"{document['implementation']['name']}: no check failed, there is no failure to quote")
    message = failed[0]["message"]
    if message not in output:
        raise LookupError(f"the report's message of {failed[0]['id']} is not in pytest's output")
    return message.splitlines()


def evidence(document, output):
    """The first failure's message without its reproduction."""
    lines = first_failure(document, output)
    cut = next((i for i, line in enumerate(lines) if line.strip() == "reproduce:"), len(lines))
    return lines[:cut]


def summary(document, output):
    """The end-of-run summary's lines of the callables the implementation provides."""
    lines = output.splitlines()
    banner = f" attention conformance: {document['implementation']['name']} "
    start = max(i for i, line in enumerate(lines) if line.startswith("=") and banner in line)
    provided = {name for name, status in document["capabilities"].items() if status["provided"]}
    return [line for line in lines[start + 1:] if line.split(" ", 1)[0] in provided]


PARTS = {"message": first_failure, "evidence": evidence, "summary": summary}


def shorten(line):
    """The line, cut after its last "; " within WIDTH when it is longer."""
    if len(line) <= WIDTH or "; " not in line[:WIDTH]:
        return line
    return line[:line.rindex("; ", 0, WIDTH) + 2] + "..."


def normalise(text, folder):
    """The text with what varies between runs made constant: paths, pytest's durations."""
    text = text.replace(str(folder), ".").replace(str(ROOT), "<kit>")
    return re.sub(r"\bin \d+(\.\d+)?s\b", "in ...s", text)


def produce(block):
    """The block's text as the kit prints it now: its command, then each part it keeps after a `...`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if block.folder == TEMPORARY else ROOT / block.folder
        if block.folder == TEMPORARY:
            (folder / "my_attention.py").write_text(MY_ATTENTION)
        document, output = run(block, folder, Path(tmp, "report.json"))
        lines = [f"$ {block.command}"]
        for part in block.keep:
            lines += ["...", *PARTS[part](document, output)]
        return normalise("\n".join(map(shorten, lines)), folder)


def produce_all(blocks):
    """{block: text} for the blocks whose framework is installed, two runs at a time."""
    blocks = [block for block in blocks if available(block)]
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(blocks, pool.map(produce, blocks)))


def section(text, block):
    """(start, end) of what lies between the block's marker and its end marker in the README's text."""
    if text.count(block.marker) != 1:
        raise LookupError(f"README.md holds {text.count(block.marker)} markers {block.marker}, not one")
    start = text.index(block.marker) + len(block.marker)
    return start, text.index(END, start)


def quoted(text, block):
    """The block's lines as the README quotes them (inside its fence)."""
    start, end = section(text, block)
    return text[start:end].strip("\n").removeprefix("```").removesuffix("```").strip("\n").splitlines()


def render(text, block, produced):
    """The README's text with the block's quote replaced by `produced`."""
    start, end = section(text, block)
    return text[:start] + f"\n```\n{produced}\n```\n" + text[end:]


def unknown_markers(text, blocks=BLOCKS):
    """The output markers of the README that name no block of this tool."""
    known = {block.marker for block in blocks}
    return [line for line in text.splitlines() if line.startswith("<!-- output:") and line not in known]


def differences(text, produced):
    """{command: unified diff} of each block whose quote differs from what the kit prints now."""
    diffs = {}
    for block, now in produced.items():
        before, after = quoted(text, block), now.splitlines()
        if before != after:
            diff = difflib.unified_diff(before, after, "README.md", "the kit now", lineterm="")
            diffs[block.command] = "\n".join(diff)
    return diffs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = README.read_text()
    unknown = unknown_markers(text)
    for marker in unknown:
        print(f"README.md: a marker no block of tools/readme.py produces: {marker}", file=sys.stderr)
    for block in BLOCKS:
        if not available(block):
            print(f"not run ({block.needs} is not installed): {block.command}", file=sys.stderr)
    produced = produce_all(BLOCKS)
    if "--check" in argv:
        diffs = differences(text, produced)
        print("\n\n".join(diffs.values()) or f"{len(produced)} quoted outputs are what the kit prints now")
        return 1 if diffs or unknown else 0
    for block, now in produced.items():
        text = render(text, block, now)
    README.write_text(text)
    print(f"{len(produced)} quoted outputs written to README.md")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
