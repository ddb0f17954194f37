"""What an implementation declares it can do: its CONFORMANCE dict (docs/contract.md).

The kit's equivalent of scikit-learn's estimator tags. The suite draws its cases within the
declared limits where a case can adapt (a head width, a value width), and skips a check whose
call the declaration rules out, saying which key rules it out.
"""

from dataclasses import dataclass

from attention_conformance.contract import DTYPES

RULE_KEYS = ("multiple_of", "at_least", "at_most")  # what a head_dims rule may say

# what each value of "masks" lets through: a call with no mask, the causal mask, any additive mask
MASKS = {"additive": ("none", "causal", "additive"), "causal": ("none", "causal"), "none": ("none",)}
# The score modifiers of modified_attention, by the name of the keyword that turns each on.
MODIFIERS = ("softcap", "alibi_slopes", "sinks")


class DeclarationError(Exception):
    """A CONFORMANCE dict with an unknown key or a bad value."""


@dataclass(frozen=True)
class Widths:
    """The head widths a declaration allows: the ones listed, or those a rule allows (multiples of
    `multiple_of` from `at_least` to `at_most`), so that no one lists 32 multiples of 8."""

    listed: tuple = None  # the widths listed, sorted; None: the rule below
    multiple_of: int = 1
    at_least: int = 1  # the smallest allowed width, a multiple of multiple_of
    at_most: int = None  # the largest allowed width, a multiple of multiple_of; None: no limit

    @classmethod
    def rule(cls, multiple_of=1, at_least=1, at_most=None):
        """The widths a rule allows, its bounds moved onto its multiples (None: it allows none)."""
        at_least = -(-at_least // multiple_of) * multiple_of  # the first multiple at or above at_least
        at_most = None if at_most is None else at_most // multiple_of * multiple_of
        if at_most is not None and at_most < at_least:
            return None
        return cls(multiple_of=multiple_of, at_least=at_least, at_most=at_most)

    def __contains__(self, width):
        if self.listed is not None:
            return width in self.listed
        return (width % self.multiple_of == 0 and width >= self.at_least
                and (self.at_most is None or width <= self.at_most))

    def nearest(self, preferred):
        """`preferred` if allowed, else the allowed width nearest to it (the smaller on a tie)."""
        if preferred in self:
            return preferred
        if self.listed is not None:
            candidates = self.listed
        else:
            below = preferred // self.multiple_of * self.multiple_of
            candidates = [self._clamped(below), self._clamped(below + self.multiple_of)]
        return min(candidates, key=lambda width: (abs(width - preferred), width))

    def _clamped(self, width):
        return max(self.at_least, width if self.at_most is None else min(width, self.at_most))

    def choices(self, widest=256):
        """The widths to draw from: every listed one, or those the rule allows up to `widest`
        (at least its smallest), so that a rule without an upper bound still draws small cases."""
        if self.listed is not None:
            return self.listed
        top = widest if self.at_most is None else min(self.at_most, widest)
        return tuple(range(self.at_least, max(top, self.at_least) + 1, self.multiple_of))

    def data(self):
        """As JSON takes it: the list, or the rule as a dict of what differs from 'any width'."""
        if self.listed is not None:
            return list(self.listed)
        rule = {"multiple_of": self.multiple_of} if self.multiple_of > 1 else {}
        if self.at_least > self.multiple_of:  # below that, the multiples alone say where they start
            rule["at_least"] = self.at_least
        if self.at_most is not None:
            rule["at_most"] = self.at_most
        return rule

    def __str__(self):
        if self.listed is not None:
            return f"[{', '.join(map(str, self.listed))}]"
        words = f"multiples of {self.multiple_of}" if self.multiple_of > 1 else "widths"
        if self.at_least > self.multiple_of:
            words += f" from {self.at_least}"
        if self.at_most is not None:
            words += f" {'to' if self.at_least > self.multiple_of else 'up to'} {self.at_most}"
        return words if words != "widths" else "any width"


@dataclass(frozen=True)
class Declaration:
    """The implementation's limits; the defaults are the contract's: anything goes."""

    head_dims: Widths = None  # the d_k it supports; None: any
    value_dim_equals_key_dim: bool = False  # it needs d_v == d_k
    masks: str = "additive"  # "additive": any additive mask; "causal": none or the causal one; "none"
    weights: bool = None  # True: returns (output, weights); False: the output alone; None: either
    dtypes: tuple = DTYPES  # the dtypes it supports
    max_seq_len: int = None  # the longest sequence (of queries or keys) it takes; None: no limit
    block_sizes: tuple = None  # the block sizes of a paged cache it takes (paged_attention); None: any
    modifiers: tuple = MODIFIERS  # the score modifiers it takes (modified_attention)
    grouped_heads: bool = True  # False: the serving callables need as many key/value heads as query heads

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

    def declared(self):
        """The keys that differ from the defaults, with their values."""
        default = Declaration()
        return {key: getattr(self, key) for key in self.__dataclass_fields__ if getattr(self, key) != getattr(default, key)}

    def items(self):
        """The declared keys as data (what --impl-report writes): head widths as a list or a rule's dict."""
        return {key: value.data() if isinstance(value, Widths) else value for key, value in self.declared().items()}

    def __str__(self):
        declared = self.declared()
        return ", ".join(f"{key}={_show(value)}" for key, value in declared.items()) if declared else "nothing declared"

    def head_dim(self, preferred):
        """`preferred` if declared (or nothing is), else the declared width nearest to it."""
        return preferred if self.head_dims is None else self.head_dims.nearest(preferred)

    def value_dim(self, d_k, preferred):
        return d_k if self.value_dim_equals_key_dim else preferred

    def rules_out(self, limits, dtype):
        """Why the declaration rules out a call with these `limits` in `dtype` (None: it does not).

        `limits` holds what matters of the call: "head_dim", "value_dim", "mask" ("none",
        "causal" or "additive"), "lengths", "block_size", "modifiers", "heads" (query and key/value
        heads of the serving callables); a key absent does not apply to the callable."""
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
        missing = [name for name in limits.get("modifiers", ()) if name not in self.modifiers]
        if missing:
            return f"modifiers={_show(self.modifiers)} does not include {missing[0]}"
        heads = limits.get("heads")
        if heads is not None and heads[0] != heads[1] and not self.grouped_heads:
            return f"grouped_heads=False, and this call has {heads[0]} query heads over {heads[1]} key/value heads"
        block_size = limits.get("block_size")
        if block_size is not None and self.block_sizes is not None and block_size not in self.block_sizes:
            return f"block_sizes={_show(self.block_sizes)} does not include block_size={block_size}"
        return None


def _show(value):
    if isinstance(value, Widths):
        return str(value)
    return f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else repr(value)


def _positive(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _head_dims(value):
    """Widths from a list (or tuple, set) of positive ints, a range of them, or a rule dict."""
    if value is None:
        return None
    if isinstance(value, range):
        return _range_of_widths(value)
    if isinstance(value, dict):
        return _rule_of_widths(value)
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise DeclarationError(
            "CONFORMANCE['head_dims'] must be a non-empty list of positive ints, a range of them or a rule such as "
            f"{{'multiple_of': 8, 'at_most': 256}}, not {value!r}")
    if not value or not all(map(_positive, value)):
        raise DeclarationError(f"CONFORMANCE['head_dims'] must be a non-empty list of positive ints, not {value!r}")
    return Widths(listed=tuple(sorted(value)))


def _range_of_widths(value):
    widths = value if value.step > 0 else value[::-1]  # range(256, 0, -8) allows what range(8, 257, 8) does
    if not widths or widths[0] < 1:
        raise DeclarationError(f"CONFORMANCE['head_dims'] must be a non-empty range of positive ints, not {value!r}")
    if widths[0] % widths.step:  # not the multiples of its step: only its values say what it holds
        return Widths(listed=tuple(widths))
    return Widths.rule(multiple_of=widths.step, at_least=widths[0], at_most=widths[-1])


def _rule_of_widths(value):
    unknown = sorted(set(value) - set(RULE_KEYS), key=str)
    if unknown:
        raise DeclarationError(f"unknown key {unknown[0]!r} in CONFORMANCE['head_dims'] (a rule's keys: "
                               f"{', '.join(RULE_KEYS)})")
    if not value:
        raise DeclarationError(f"CONFORMANCE['head_dims'] as a rule needs one of {', '.join(RULE_KEYS)}, not {{}}")
    bad = [key for key in RULE_KEYS if key in value and not _positive(value[key])]
    if bad:
        raise DeclarationError(f"CONFORMANCE['head_dims'][{bad[0]!r}] must be a positive int, not {value[bad[0]]!r}")
    widths = Widths.rule(**value)
    if widths is None:
        raise DeclarationError(f"CONFORMANCE['head_dims'] = {value!r} allows no width")
    return widths


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


def _names(key, allowed, what):
    """The parser of a non-empty list of names among `allowed` (`what` they are, in its error),
    kept in allowed's order."""

    def parse(value):
        if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)) or not value:
            raise DeclarationError(f"CONFORMANCE[{key!r}] must be a non-empty list of {what}, not {value!r}")
        unknown = [name for name in value if name not in allowed]
        if unknown:
            raise DeclarationError(f"CONFORMANCE[{key!r}] names {unknown[0]!r}, not one of {', '.join(allowed)}")
        return tuple(name for name in allowed if name in value)

    return parse


def _block_sizes(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)) and value and all(map(_positive, value)):
        return tuple(sorted(value))
    raise DeclarationError(f"CONFORMANCE['block_sizes'] must be a non-empty list of positive ints, not {value!r}")


def _length(value):
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise DeclarationError(f"CONFORMANCE['max_seq_len'] must be a positive int or None, not {value!r}")


PARSERS = {
    "head_dims": _head_dims,
    "value_dim_equals_key_dim": _bool("value_dim_equals_key_dim"),
    "masks": _masks,
    "weights": _bool("weights", allow_none=True),
    "dtypes": _names("dtypes", DTYPES, "dtype names"),
    "max_seq_len": _length,
    "block_sizes": _block_sizes,
    "modifiers": _names("modifiers", MODIFIERS, "modifier names"),
    "grouped_heads": _bool("grouped_heads"),
}
