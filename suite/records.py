"""What each check found, as data: recorded as test properties (so --junitxml carries them)
and gathered into the --impl-report document. The kit's own tools read these, never the text
of a failure message.
"""

import hashlib
import json
import math
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PREFIX = "attention_conformance."  # of the test properties' names, so that they stand out in junit XML


@dataclass
class Record:
    """One check: filled in as it runs, turned into test properties when its report is made.

    `worst` is the largest error met, as a multiple of what was allowed (above 1 fails);
    `failure` says how the check failed: "value" (a value, shape or property was wrong),
    "raised", "timeout", "not an array", "changed its inputs" or "crashed" (its worker died);
    `diagnosis` is the title of the mistake it named, `candidates` the names of the mistakes
    its evidence fits (diagnosis.py); `measurements` what the kit's instruments measured of the
    implementation after the failure ({instrument: numbers}: measure.py); `ruled_out` the
    CONFORMANCE key that skipped it; `answers` a digest of every answer the implementation gave
    in the check, bit for bit (two implementations with the same digests answered the kit alike:
    attention_conformance.mutate reports such a mutant as equivalent).
    """

    capability: str
    outcome: str = "not run"
    call: str = None
    seed: int = None
    worst: float = None
    failure: str = None
    diagnosis: str = None
    candidates: list = field(default_factory=list)
    measurements: dict = field(default_factory=dict)
    ruled_out: str = None
    answers: str = None

    def saw(self, call):
        """The check is about to call the implementation: `call` is what its message will name."""
        self.call, self.seed = str(call), call.seed

    def answered(self, result):
        """Fold one answer of the implementation into `answers`; OPAQUE, for good, once a part of
        an answer is no array of numbers (its bytes would be pointers, its text rounded)."""
        if self.answers == OPAQUE:
            return
        digest = hashlib.sha256((self.answers or "").encode())
        self.answers = digest.hexdigest()[:16] if _fold(digest, result) else OPAQUE

    def measured(self, ratio):
        self.worst = ratio if self.worst is None else max(self.worst, ratio)

    def properties(self):
        """As test properties; the capability is left out, as the check carries it from collection on."""
        fields = asdict(self).items()
        return [(PREFIX + name, value) for name, value in fields if name != "capability" and value not in (None, [], {})]

    @classmethod
    def from_properties(cls, properties):
        """The record a report carries, or None for a test that is not a conformance check."""
        values = {name[len(PREFIX) :]: value for name, value in properties if name.startswith(PREFIX)}
        return cls(**values) if "capability" in values else None


OPAQUE = "opaque"  # the answers of a check that held something other than arrays of numbers


def _fold(digest, value):
    """Fold `value` (an array, or tuples, lists and dicts of them) into `digest`; False when a part is
    not an array of numbers."""
    if isinstance(value, dict):
        return all(_fold(digest, str(key)) and _fold(digest, value[key]) for key in sorted(value, key=str))
    if isinstance(value, (tuple, list)):
        return all(_fold(digest, part) for part in value)
    if isinstance(value, str):
        digest.update(value.encode())
        return True
    try:
        array = np.ascontiguousarray(value)
    except Exception:  # a tensor that needs grad, a framework's object: no bytes to compare
        return False
    if array.dtype == object:
        return False
    digest.update(f"{array.dtype}{array.shape}".encode() + array.tobytes())
    return True


current = ContextVar("attention_conformance_record", default=None)


def note(**values):
    """Set fields of the running check's record (nothing outside a check)."""
    record = current.get()
    if record is not None:
        for name, value in values.items():
            setattr(record, name, value)


def write_report(path, document):
    """Write the --impl-report document, creating its folder if need be. JSON has no infinity
    or NaN: those numbers are written as the strings "inf" and "nan" (float() reads them back)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as file:
        json.dump(_strict(document), file, indent=2, allow_nan=False)
        file.write("\n")


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value
