"""Known failures an adopter declares without editing the kit: `--impl-xfail=FILE`.

One entry per line: a test, then why it fails; `#` starts a comment.

    test_sdpa_matches_the_formula[4d-heads]   our kernel takes 3-D input only
    test_softmax_is_stable_for_large_logits_and_rows_far_apart   fixed in 2.1

A test is named by its function (all its cases), by its function with the case in brackets,
or by the tail of its node id (`test_attention.py::test_sdpa_weights_sum_to_one_over_keys`).
Each declared test is marked xfail(strict=True): an unexpected pass is reported as a failure,
so a fixed bug cannot hide behind a stale entry. An entry that matches no test is warned about;
so is an old name of a renamed check (RENAMED), which still matches the check. Under -W error
(or filterwarnings = error) either warning is a usage error naming the entry.
"""

import argparse
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

# Check names are public (adopters list them here): a renamed check answers to its old name.
# Every rename goes into this table, old name -> new name, and stays there (docs/contract.md).
RENAMED = {
    "test_softmax_matches_the_definition": "test_softmax_matches_the_formula",
    "test_sdpa_matches_the_definition": "test_sdpa_matches_the_formula",
    "test_causal_self_attention_matches_the_definition": "test_causal_self_attention_matches_the_formula",
    "test_mha_matches_the_definition_for_several_head_splits": "test_mha_matches_the_formula_for_several_head_splits",
}


@dataclass(frozen=True)
class Entry:
    test: str
    reason: str
    line: int

    def renamed(self):
        """The entry with its check's current name, when it names a renamed check by its old name (else None)."""
        head, bracket, case = self.test.partition("[")  # the case id, if any, may hold anything
        module, separator, function = head.rpartition("::")
        if function not in RENAMED:
            return None
        return replace(self, test=f"{module}{separator}{RENAMED[function]}{bracket}{case}")

    def matches(self, item):
        """By function (all its cases), function[case], or the tail of the node id, with or without [case]."""
        if self.test in (item.name, item.originalname):
            return True
        return any(node == self.test or node.endswith(("::" + self.test, "/" + self.test))
                   for node in (item.nodeid, item.nodeid.partition("[")[0]))


def read(text):
    """The --impl-xfail option's type: the file's entries, or a readable error."""
    path = Path(text)
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read the known-failures file {text}: {error.strerror}") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        words = line.split("#")[0].split(None, 1)  # the test, then the reason after any spaces or tabs
        if words:
            reason = words[1].strip() if len(words) > 1 else "declared as a known failure"
            entries.append(Entry(words[0], reason, number))
    return path, entries


def mark(items, declared):
    """Mark the declared tests xfail(strict=True); warn about old names and entries that match nothing."""
    path, entries = declared
    for entry in entries:
        current = entry.renamed()
        if current:
            warn(f"{path}:{entry.line}: {entry.test!r} is the old name of {current.test!r}: it still matches "
                 "that check; write the new name to silence this warning")
        matched = [item for item in items if (current or entry).matches(item)]
        for item in matched:
            item.add_marker(pytest.mark.xfail(reason=f"{entry.reason} ({path}:{entry.line})", strict=True))
        if not matched:
            warn(f"{path}:{entry.line}: {entry.test!r} matches no test of the suite")


def warn(message):
    """A PytestConfigWarning, shown in pytest's warnings summary. Where -W error or filterwarnings
    turn it into an exception, a usage error instead: raised during collection, the exception
    itself would end the run in an INTERNALERROR traceback."""
    try:
        warnings.warn(pytest.PytestConfigWarning(message))
    except pytest.PytestConfigWarning:
        raise pytest.UsageError(f"{message} (a warning, made an error by -W or filterwarnings)") from None
