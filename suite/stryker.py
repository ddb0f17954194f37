"""mutmut's results as a Stryker mutation-testing report (mutation-testing-report-schema, v2),
the format mutation-testing tools share, with an HTML viewer (mutation-testing-elements).

mutmut 3 keeps, for each mutated file, a `.meta` JSON of exit codes by mutant, and the mutated
file itself, in which each mutant is a whole copy of its function. A mutant's location is where
its copy differs from the function's unmutated copy, placed at the function in the original file.
"""

import ast
import difflib
import io
import json
import keyword
import tokenize
from pathlib import Path

from mutmut.stats import status_by_exit_code  # mutmut's own reading of its exit codes
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

STATUS = {  # mutmut's status -> Stryker's
    "killed": "Killed",
    "survived": "Survived",
    "no tests": "NoCoverage",
    "timeout": "Timeout",
    "segfault": "RuntimeError",
    "suspicious": "RuntimeError",
    "caught by type check": "CompileError",
    "skipped": "Ignored",
    "not checked": "Pending",
    "check was interrupted by user": "Pending",
}
MUTATORS = {"operator": "OperatorMutation", "number": "NumberLiteral", "string": "StringLiteral",
            "keyword": "KeywordMutation", "name": "NameMutation"}


def statuses(workspace):
    """{mutant name: mutmut status} over every mutated file of a mutmut workspace."""
    return {name: status_by_exit_code[code] for _, codes in _metas(workspace) for name, code in codes.items()}


def report(workspace, thresholds=(80, 60)):
    """The Stryker document for a mutmut workspace."""
    files = {}
    for relative, codes in _metas(workspace):
        source = Path(workspace, relative).read_text()
        mutated = _Functions(Path(workspace, "mutants", relative).read_text())
        original = ast.parse(source)
        files[relative.as_posix()] = {
            "language": "python",
            "source": source,
            "mutants": [_mutant(name, code, original, mutated) for name, code in codes.items()],
        }
    return {"schemaVersion": "2", "thresholds": {"high": thresholds[0], "low": thresholds[1]}, "files": files}


def _metas(workspace):
    """(path of the mutated source relative to the workspace, {mutant name: exit code}) per file."""
    root = Path(workspace, "mutants")
    for meta in sorted(root.rglob("*.py.meta")):
        yield meta.relative_to(root).with_suffix(""), json.loads(meta.read_text())["exit_code_by_key"]


def _mutant(name, code, original, mutated):
    function, class_name = orig_function_and_class_names_from_key(name)
    generated = name.rpartition(".")[2]  # x_softmax__mutmut_3
    before = mutated.text(generated.partition("__mutmut_")[0] + "__mutmut_orig", class_name, function)
    after = mutated.text(generated, class_name, function)
    start, end, replaced, replacement = _difference(before, after)
    node = _find(original, function, class_name)  # the function in the original file
    return {
        "id": name,
        "mutatorName": _mutator(replaced, replacement),
        "description": f"{replaced!r} -> {replacement!r} in {function}",
        "replacement": replacement,
        "location": {
            "start": _position(before, start, node.lineno, node.col_offset),
            "end": _position(before, end, node.lineno, node.col_offset),
        },
        "status": STATUS.get(status_by_exit_code[code], "RuntimeError"),
    }


def _find(tree, function, class_name):
    body = tree.body
    if class_name:
        body = next(node.body for node in body if isinstance(node, ast.ClassDef) and node.name == class_name)
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return next(node for node in body if isinstance(node, functions) and node.name == function)


class _Functions:
    """A mutated file, parsed once: the text of any of its functions."""

    def __init__(self, source):
        self.lines, self.tree = source.splitlines(), ast.parse(source)

    def text(self, name, class_name, rename):
        """The text of function `name`, from its `def`, renamed to `rename`."""
        node = _find(self.tree, name, class_name)
        text = "\n".join(self.lines[node.lineno - 1 : node.end_lineno])[node.col_offset :]
        return text.replace(f"def {name}(", f"def {rename}(", 1)


def _difference(before, after):
    """(start, end) offsets of the changed span in `before`, the text there, and the text replacing it."""
    opcodes = [op for op in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not opcodes:
        return 0, len(before), before, after
    (_, start, _, new_start, _), (_, _, end, _, new_end) = opcodes[0], opcodes[-1]
    return start, end, before[start:end], after[new_start:new_end]


def _position(text, offset, first_line, first_column):
    """1-based line and column in the original file of an offset into the function's text."""
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return {"line": first_line + line, "column": (first_column if line == 0 else 0) + column + 1}


def _mutator(replaced, replacement):
    """A category for the viewer: what was removed or put in, else the kind of the tokens changed."""
    if not replacement.strip():
        return "Removal"
    if replacement == "None":
        return "NoneReplacement"
    kinds = {_kind(token) for text in (replaced, replacement) for token in _tokens(text)}
    return MUTATORS[kinds.pop()] if len(kinds) == 1 else "ExpressionMutation"


def _tokens(text):
    wanted = (tokenize.OP, tokenize.NUMBER, tokenize.STRING, tokenize.NAME)
    try:
        return [token for token in tokenize.generate_tokens(io.StringIO(text).readline) if token.type in wanted]
    except (tokenize.TokenError, IndentationError, SyntaxError):  # a fragment need not be valid Python
        return []


def _kind(token):
    if token.type == tokenize.NAME:
        return "keyword" if keyword.iskeyword(token.string) else "name"
    return {tokenize.OP: "operator", tokenize.NUMBER: "number", tokenize.STRING: "string"}[token.type]
