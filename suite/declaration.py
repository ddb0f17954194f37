"""What an implementation declares it can do: its CONFORMANCE dict (docs/contract.md).

The kit's equivalent of scikit-learn's estimator tags. The suite draws its cases within the
declared limits where a case can adapt (a head width, a value width), and skips a check whose
call the declaration rules out, saying which key rules it out.
"""

from dataclasses import dataclass

from attention_conformance.contract import DTYPES

# what each value of "masks" lets through: a call with no mask, the causal mask, any additive mask
MASKS = {"additive": ("none", "causal", "additive"), "causal": ("none", "causal"), "none": ("none",)}


class DeclarationError(Exception):
    """A CONFORMANCE dict with an unknown key or a bad value."""


@dataclass(frozen=True)
class Declaration:
    """The implementation's limits; the defaults are the contract's: anything goes."""

    head_dims: tuple = None  # the d_k it supports; None: any
    value_dim_equals_key_dim: bool = False  # it needs d_v == d_k
    masks: str = "additive"  # "additive": any additive mask; "causal": none or the causal one; "none"
    weights: bool = None  # True: returns (output, weights); False: the output alone; None: either
    dtypes: tuple = DTYPES  # the dtypes it supports
    max_seq_len: int = None  # the longest sequence (of queries or keys) it takes; None: no limit

    @classmethod
    def parse(cls, given):
        """The Declaration for a CONFORMANCE value (None: nothing declared), or DeclarationError."""
        if given is None:
            return cls()
        if not isinstance(given, dict):
            raise DeclarationError(f"CONFORMANCE must be a dict, not {type(given).__name__}")
        unknown = sorted(set(given) - set(cls.__dataclass_fields__), key=str)
        if unknown:
            raise DeclarationError(
                f"unknown key {unknown[0]!r} in CONFORMANCE (known: {', '.join(cls.__dataclass_fields__)})"
            )
        values = {}
        for key, value in given.items():
            values[key] = PARSERS[key](value)
        return cls(**values)

    def items(self):
        """The declared keys that differ from the defaults: what the header prints."""
        default = Declaration()
        return {key: getattr(self, key) for key in self.__dataclass_fields__ if getattr(self, key) != getattr(default, key)}

    def __str__(self):
        declared = self.items()
        return ", ".join(f"{key}={_show(value)}" for key, value in declared.items()) if declared else "nothing declared"

    def head_dim(self, preferred):
        """`preferred` if declared (or nothing is), else the declared width nearest to it."""
        if self.head_dims is None or preferred in self.head_dims:
            return preferred
        return min(self.head_dims, key=lambda width: (abs(width - preferred), width))

    def value_dim(self, d_k, preferred):
        return d_k if self.value_dim_equals_key_dim else preferred

    def rules_out(self, limits, dtype):
        """Why the declaration rules out a call with these `limits` in `dtype` (None: it does not).

        `limits` holds what matters of the call: "head_dim", "value_dim", "mask" ("none",
        "causal" or "additive"), "lengths"; a key absent does not apply to the callable."""
        if dtype not in self.dtypes:
            return f"dtypes={_show(self.dtypes)} does not include {dtype}"
        head_dim, value_dim = limits.get("head_dim"), limits.get("value_dim")
        if head_dim is not None and self.head_dims is not None and head_dim not in self.head_dims:
            return f"head_dims={_show(self.head_dims)} does not include d_k={head_dim}"
        if value_dim is not None and self.value_dim_equals_key_dim and value_dim != head_dim:
            return f"value_dim_equals_key_dim=True, and this call has d_v={value_dim}, d_k={head_dim}"
        mask = limits.get("mask")
        if mask is not None and mask not in MASKS[self.masks]:
            return f"masks={self.masks!r} does not take {'an' if mask == 'additive' else 'a'} {mask} mask"
        longest = max(limits.get("lengths", ()), default=0)
        if self.max_seq_len is not None and longest > self.max_seq_len:
            return f"max_seq_len={self.max_seq_len} is shorter than this call's {longest} positions"
        return None


def _show(value):
    return f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else repr(value)


def _positive_ints(key):
    def parse(value):
        if value is None:
            return None
        if not isinstance(value, (list, tuple, set, frozenset)) or not value:
            raise DeclarationError(f"CONFORMANCE[{key!r}] must be a non-empty list of positive ints, not {value!r}")
        if not all(isinstance(item, int) and not isinstance(item, bool) and item > 0 for item in value):
            raise DeclarationError(f"CONFORMANCE[{key!r}] must be a non-empty list of positive ints, not {value!r}")
        return tuple(sorted(value))

    return parse


def _bool(key, allow_none=False):
    def parse(value):
        if isinstance(value, bool) or (allow_none and value is None):
            return value
        raise DeclarationError(f"CONFORMANCE[{key!r}] must be True or False{' or None' if allow_none else ''}, not {value!r}")

    return parse


def _masks(value):
    if value not in MASKS:
        raise DeclarationError(f"CONFORMANCE['masks'] must be one of {', '.join(map(repr, MASKS))}, not {value!r}")
    return value


def _dtypes(value):
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise DeclarationError(f"CONFORMANCE['dtypes'] must be a non-empty list of dtype names, not {value!r}")
    unknown = [name for name in value if name not in DTYPES]
    if unknown:
        raise DeclarationError(f"CONFORMANCE['dtypes'] names {unknown[0]!r}, not one of {', '.join(DTYPES)}")
    return tuple(name for name in DTYPES if name in value)


def _length(value):
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise DeclarationError(f"CONFORMANCE['max_seq_len'] must be a positive int or None, not {value!r}")


PARSERS = {
    "head_dims": _positive_ints("head_dims"),
    "value_dim_equals_key_dim": _bool("value_dim_equals_key_dim"),
    "masks": _masks,
    "weights": _bool("weights", allow_none=True),
    "dtypes": _dtypes,
    "max_seq_len": _length,
}
