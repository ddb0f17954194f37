"""Mutation operators that know attention: the catalogue's classic mistakes, put into any source.

mutmut and its kin turn `+` into `-` and `<` into `<=`; on attention code most such mutants are
noise, and the mistakes people make are not among them. These operators are drawn from the
catalogue (the hand-written mutants): each rewrites one spelling of a correct step (numpy,
PyTorch or JAX) into the mistake, through LibCST's concrete syntax tree, which keeps the rest of
the file byte for byte (comments, layout), so a mutant's diff is the mistake alone.

    mutants_of(source, path) -> [Mutant]      every mutant of one file, in source order

Each operator belongs to a family (the Stryker report's mutatorName) and stands for the catalogue
mistakes it can make (`mistakes`, their module names): the kit's diagnosis of a killed mutant is
judged against them. Names are matched by their parts (`w_v`, `v_proj`, `past_key`): an operator
fires where the code says what it is, and nowhere else.
"""

import re
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import ExpressionContext, ExpressionContextProvider, MetadataWrapper, PositionProvider

MODULES = {"np", "numpy", "torch", "jnp", "jax", "jax.nn", "jax.numpy", "F", "nn", "nn.functional",
           "torch.nn.functional", "special", "scipy.special", "math", "jax.lax", "lax"}
INF_NAMES = ("np.inf", "math.inf", "torch.inf", "jnp.inf", "numpy.inf")
CACHE_WORDS = {"cache", "past", "prev", "previous", "cached", "old"}
MASK_WORDS = {"mask", "bias", "causal", "attn_mask", "attention_mask"}
CONCATENATIONS = ("concatenate", "cat", "concat")
TRANSPOSES = {"transpose", "swapaxes", "permute", "moveaxis", "swapdims", "t"}
# What a transpose removed can be, by where it stood: before a product (keys, weights, gradients)
# or around the heads' split and merge.
TRANSPOSED = ("keys_not_transposed", "weights_transposed", "heads_split_without_transpose",
              "heads_merged_without_transpose", "value_gradient_not_transposed", "key_gradient_not_transposed",
              "weight_gradient_transposed")  # fmt: skip
# The words of a statement that builds a mask: its comparisons are the mask's boundaries.
MASK_CONTEXT = MASK_WORDS | {"window", "visible", "inf", "where", "masked_fill", "tril", "triu", "tri"}
SOFTMAX_AXIS = ("softmax_ignores_axis", "softmax_wrong_axis")  # a softmax's own moveaxis or transpose removed
# A mistake of a forward pass that autograd differentiates shows in the gradient too: its gradient's
# mistake is one of the same.
MASK_DROPPED = ("mask_ignored", "causal_mask_forgotten", "cross_mask_ignored", "backward_without_the_mask")
TURNED_BACK = ("rope_turns_backwards", "rope_gradient_turns_forward")
DIAGONAL = ("causal_mask_hides_diagonal", "step_leaves_out_own_key")
WINDOW = ("window_one_too_wide", "window_sees_the_future", "varlen_window_one_too_wide")
# sin and cos serve two steps, told apart by the names around them: a sinusoidal encoding (the
# catalogue's sin and cos swapped) and a rotation (its sign turned back); one step's mistake made
# in the other stands for no mistake of the catalogue.
ENCODING_WORDS = {"positional", "encoding", "encodings", "sinusoid", "sinusoidal", "sinusoids"}


@dataclass(frozen=True)
class Mutant:
    """One mistake put into one file: where (1-based lines, 0-based columns of the original text),
    what was there and what replaces it, and the whole mutated source."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    family: str
    operator: str
    mistakes: tuple
    original: str
    replacement: str
    source: str

    @property
    def id(self):
        return f"{self.file}:{self.line}:{self.column}:{self.operator}"

    def describe(self):
        return f"{self.operator}: {self.original!r} -> {self.replacement!r}"


def mutants_of(source, path):
    """Every mutant the operators make of `source` (the text of the file at `path`), in source order."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    finder = _Finder(wrapper.module)
    wrapper.visit(finder)
    positions = wrapper.resolve(PositionProvider)
    found, seen = [], set()
    for node, replacement, family, operator, mistakes, (at, shown) in finder.sites:
        text = wrapper.module.deep_replace(node, replacement).code
        if text == source or text in seen:  # an operator that changes nothing, or twice the same mutant
            continue
        seen.add(text)
        where = positions[at]
        found.append(Mutant(str(path), where.start.line, where.start.column, where.end.line, where.end.column,
                            family, operator, tuple(mistakes), _code(at), _code(shown), text))
    return sorted(found, key=lambda m: (m.line, m.column, m.operator))


def _code(node):
    return cst.Module([]).code_for_node(node)


def _expression(text):
    """`text` as an expression node, in parentheses unless it is one term (so it fits anywhere)."""
    try:
        node = cst.parse_expression(text)
    except cst.ParserSyntaxError:  # an expression over several lines: its line breaks need the parentheses
        return cst.parse_expression(f"({text})")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.expression, (cst.Integer, cst.Float)):
        return node  # -1e9, -2: a term of its own
    if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation, cst.Comparison, cst.BooleanOperation, cst.IfExp)):
        node = cst.parse_expression(f"({text})")
    return node


def _words(node):
    """The lower-case parts of every name in `node` (strings left out): `self.v_proj` -> {self, v, proj}."""
    code = re.sub(r"\"[^\"]*\"|'[^']*'", "", _code(node))
    return {part for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code) for part in _parts(name)}


def _parts(name):
    return {name.lower(), *(part for part in name.lower().split("_") if part)}


def _callee(call):
    """The called name's last part: np.linalg.norm -> norm, x.softmax -> softmax."""
    func = call.func
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""


def _owner(call):
    """What a called attribute hangs on, as code: np.concatenate -> np, x.transpose -> x."""
    return _code(call.func.value) if isinstance(call.func, cst.Attribute) else ""


def _is_method(call):
    """x.softmax(...), not F.softmax(x, ...): called on an array, whose first argument is no array."""
    return isinstance(call.func, cst.Attribute) and _owner(call) not in MODULES


def _argument(call, keywords, position):
    """The Arg passed by one of `keywords`, else the one at `position` (None when absent)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in keywords:
            return arg
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    return positional[position] if position is not None and position < len(positional) else None


def _integer(node):
    """The int an expression spells (`2`, `-1`), else None."""
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) and isinstance(node.expression, cst.Integer):
        return -int(node.expression.value)
    return None


def _is_minus_inf(node):
    """-inf in any of its spellings: -np.inf, float("-inf"), -float("inf"), -math.inf..."""
    text = _code(node).replace(" ", "").replace("'", '"')
    return text in {f"-{name}" for name in INF_NAMES} | {'float("-inf")', '-float("inf")'}


class _Finder(cst.CSTVisitor):
    """Walks a module once, collecting sites: (node, replacement, family, operator, mistakes, shown)."""

    METADATA_DEPENDENCIES = (PositionProvider, ExpressionContextProvider)

    def __init__(self, module):
        super().__init__()
        self.sites = []
        self.names = _words(module)
        self.identifiers = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", module.code))
        self.statement = None  # the statement being walked: its words tell what an expression is for
        self.functions = []  # the names of the classes and functions being walked, innermost last
        self.entries = set()  # the keys and values written in dict displays
        self.repeats = [[]]  # the key/value heads' repeats (call, tiled) of each function walked, the module's first

    def add(self, node, replacement, family, operator, mistakes, shown=None):
        """A mutant: `node` replaced; `shown` (the part changed, its replacement) where it is smaller than node."""
        if isinstance(replacement, str):
            replacement = _expression(replacement)
        self.sites.append((node, replacement, family, operator, mistakes, shown or (node, replacement)))

    def visit_SimpleStatementLine(self, node):
        self.statement = node
        _cache_dropped(self, node)

    def visit_FunctionDef(self, node):
        self.functions.append(node.name.value)
        self.repeats.append([])
        _sin_cos_swapped(self, node)

    def leave_FunctionDef(self, node):
        self.functions.pop()
        _tiled(self, node, self.repeats.pop())

    def leave_Module(self, node):
        _tiled(self, None, self.repeats.pop())

    def visit_ClassDef(self, node):
        self.functions.append(node.name.value)

    def leave_ClassDef(self, node):
        self.functions.pop()

    def visit_Call(self, node):
        for rule in (_minus_inf, _softmax_axis, _scale_in_kernel_call, _triangle, _masked_fill, _where_fill, _transpose,
                     _heads_averaged, _heads_merged_averaged, _rotary, _positions, _repeat_interleave, _expand_tiled):
            rule(self, node)

    def visit_BinaryOperation(self, node):
        _scale(self, node)
        _mask_added(self, node)
        _window_bound(self, node)

    def visit_AugAssign(self, node):
        if isinstance(node.operator, cst.AddAssign) and _words(node.value) & MASK_WORDS:
            self.add(node, cst.AugAssign(node.target, cst.AddAssign(), cst.Integer("0")), "mask", "mask addition dropped",
                     MASK_DROPPED)

    def visit_Comparison(self, node):
        _mask_comparison(self, node)

    def visit_UnaryOperation(self, node):
        _minus_inf(self, node)

    def visit_DictElement(self, node):
        self.entries.update((node.key, node.value))

    def visit_SimpleString(self, node):
        if node in self.entries:  # a table of names ({"w_k": "k_proj"}): swapped, a weight goes unused, none misused
            return
        _projection(self, node, node.value[1:-1], lambda name: cst.SimpleString(node.value[0] + name + node.value[-1]))

    # Read, not assigned: a mutant uses the wrong weights, it does not redefine them.
    def visit_Name(self, node):
        if self.get_metadata(ExpressionContextProvider, node, None) == ExpressionContext.LOAD:
            _projection(self, node, node.value, cst.Name)

    def visit_Attribute(self, node):
        if self.get_metadata(ExpressionContextProvider, node, None) == ExpressionContext.LOAD:
            _projection(self, node.attr, node.attr.value, cst.Name)
            if node.attr.value in ("T", "mT"):  # w.T -> w
                self.add(node, _code(node.value), "transpose", "transpose removed", _transposed(self))


# --- scale -------------------------------------------------------------------------------------


def _root(node):
    """The square root an expression takes, as (what of), else None: sqrt(d), d ** 0.5, math.sqrt(d)."""
    if isinstance(node, cst.Call) and _callee(node) == "sqrt" and node.args:
        return node.args[0].value
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Power) and _code(node.right) == "0.5":
        return node.left
    return None


def _scale(finder, node):
    """x / sqrt(d): dropped, multiplied, or by d itself; x * d ** -0.5 and x * scale: dropped."""
    if isinstance(node.operator, cst.Divide) and _root(node.right) is not None:
        left, of = _code(node.left), _code(_root(node.right))
        finder.add(node, left, "scale", "scale dropped", ("unscaled_scores",))
        finder.add(node, cst.BinaryOperation(node.left, cst.Multiply(), node.right), "scale", "scale multiplied",
                   ("scores_multiplied",))
        finder.add(node, f"{left} / {of}", "scale", "scale by d", ("scaled_by_d_k",))
    elif isinstance(node.operator, cst.Power) and _code(node.right).replace(" ", "").strip("()") == "-0.5":
        finder.add(node, "1.0", "scale", "scale dropped", ("unscaled_scores",))
        finder.add(node, f"{_code(node.left)} ** 0.5", "scale", "scale multiplied", ("scores_multiplied",))
        finder.add(node, f"{_code(node.left)} ** -1", "scale", "scale by d", ("scaled_by_d_k",))
    elif isinstance(node.operator, cst.Multiply):
        for side, other in ((node.right, node.left), (node.left, node.right)):
            if isinstance(side, (cst.Name, cst.Attribute)) and _words(side) & {"scale", "scaling"}:
                finder.add(node, _code(other), "scale", "scale dropped", ("unscaled_scores",))


def _scale_in_kernel_call(finder, node):
    """A fused kernel's scale: PyTorch's and JAX's attention calls take scale=, default 1/sqrt(d)."""
    kernel = _owner(node) in MODULES  # PyTorch's or JAX's, not a function of the adopter's named alike
    if kernel and _callee(node) in ("scaled_dot_product_attention", "dot_product_attention") and _argument(node, ("scale",), None) is None:
        finder.add(node, node.with_changes(args=[*node.args, _keyword("scale", "1.0")]), "scale", "scale dropped",
                   ("unscaled_scores",))
    if _callee(node) == "scaled_dot_product_attention":
        causal = _argument(node, ("is_causal",), 5)
        if kernel and causal is not None and _code(causal.value) == "True":
            finder.add(causal.value, cst.Name("False"), "causal mask", "causal flag dropped", ("causal_mask_forgotten",))
        mask = _argument(node, ("attn_mask",), 3)
        if mask is not None and _code(mask.value) != "None":
            finder.add(mask.value, cst.Name("None"), "mask", "mask dropped", MASK_DROPPED)


def _keyword(name, value):
    return cst.Arg(cst.parse_expression(value), keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))


# --- softmax -----------------------------------------------------------------------------------


def _softmax_axis(finder, node):
    """softmax(x, axis=-1) over another axis; a max or sum kept for a softmax, over another axis or all."""
    name = _callee(node)
    if name in ("softmax", "log_softmax"):
        axis = _argument(node, ("axis", "dim"), 0 if _is_method(node) else 1)
        value = None if axis is None else _integer(axis.value)
        if value is not None:
            other = -2 if value == -1 else value + 1 if value < 0 else value - 1 if value > 0 else 1
            finder.add(axis.value, str(other), "softmax axis", "softmax axis changed", ("softmax_wrong_axis",))
        _mask_after_softmax(finder, node)
    elif name in ("max", "amax") and _argument(node, ("keepdims", "keepdim"), None) is not None:
        axis = _argument(node, ("axis", "dim"), None)
        # (torch's max(dim=) gives values and indices, its max() a number: not the same mistake's spelling)
        if axis is not None and name == "max" and "torch" not in finder.names:
            finder.add(node, node.with_changes(args=[arg for arg in node.args if arg is not axis]), "softmax axis",
                       "softmax shift over the whole array", ("softmax_global_max",))
    elif name == "sum" and _argument(node, ("keepdims", "keepdim"), None) is not None:
        axis = _argument(node, ("axis", "dim"), None)
        if axis is not None and _integer(axis.value) == -1:
            finder.add(axis.value, "-2", "softmax axis", "softmax sum over another axis",
                       ("softmax_wrong_axis", "softmax_ignores_axis"))


# --- masks -------------------------------------------------------------------------------------


def _mask_after_softmax(finder, softmax):
    """softmax(scores + mask, ...) -> softmax(scores, ...) + mask."""
    first = softmax.args[0].value if softmax.args and softmax.args[0].keyword is None else None
    if not isinstance(first, cst.BinaryOperation) or not isinstance(first.operator, cst.Add) or _is_method(softmax):
        return
    for side, other in ((first.right, first.left), (first.left, first.right)):
        if _words(side) & MASK_WORDS and not _words(other) & MASK_WORDS:
            moved = softmax.with_changes(args=[softmax.args[0].with_changes(value=other), *softmax.args[1:]])
            finder.add(softmax, f"{_code(moved)} + {_code(side)}", "mask", "mask added after the softmax",
                       ("mask_after_softmax",))


def _mask_added(finder, node):
    """scores + mask: the mask dropped."""
    if not isinstance(node.operator, cst.Add):
        return
    for side, other in ((node.right, node.left), (node.left, node.right)):
        if _words(side) & MASK_WORDS and not _words(other) & MASK_WORDS:
            finder.add(node, _code(other), "mask", "mask addition dropped", MASK_DROPPED)


def _minus_inf(finder, node):
    """-inf (-np.inf, float("-inf")...) -> -1e9: a row that sees no key then averages every value."""
    if _is_minus_inf(node):
        finder.add(node, "-1e9", "mask", "mask fill -1e9", ("mask_filled_with_minus_1e9",))


def _masked_fill(finder, node):
    """x.masked_fill(mask, -inf) -> x."""
    if _callee(node) in ("masked_fill", "masked_fill_") and isinstance(node.func, cst.Attribute):
        finder.add(node, _code(node.func.value), "mask", "mask dropped", MASK_DROPPED)


def _where_fill(finder, node):
    """where(mask, scores, -inf) -> scores."""
    if _callee(node) == "where" and len(node.args) == 3 and any(_is_minus_inf(arg.value) for arg in node.args[1:]):
        kept = next(arg.value for arg in node.args[1:] if not _is_minus_inf(arg.value))
        finder.add(node, _code(kept), "mask", "mask dropped", MASK_DROPPED)


def _triangle(finder, node):
    """triu(x, k=1) -> triu(x, k=0) (the diagonal hidden); tril <-> triu (the triangle inverted)."""
    name = _callee(node)
    if name not in ("triu", "tril", "triu_", "tril_", "tri"):
        return
    offset = _argument(node, ("k", "diagonal"), 0 if _is_method(node) else 2 if name == "tri" else 1)
    value = 0 if offset is None else _integer(offset.value)
    new = _expression(str(value - 1) if value is not None else f"{_code(offset.value)} - 1")
    if offset is not None:
        args = [arg.with_changes(value=new) if arg is offset else arg for arg in node.args]
    elif name == "tri" or any(arg.keyword is not None for arg in node.args):  # np.tri(n, m, dtype=bool): by name
        keyword = "diagonal" if _is_method(node) or _owner(node) == "torch" else "k"
        args = [*node.args, _keyword(keyword, _code(new))]
    else:
        args = [*node.args, cst.Arg(new)]
    window = offset is not None and "window" in _words(offset.value)  # the window's far edge, not the diagonal
    finder.add(node, node.with_changes(args=args), "causal mask", "triangle's diagonal moved", WINDOW if window else DIAGONAL)
    if name == "tri":
        return
    other = {"triu": "tril", "tril": "triu", "triu_": "tril_", "tril_": "triu_"}[name]
    func = node.func.with_changes(attr=cst.Name(other)) if isinstance(node.func, cst.Attribute) else cst.Name(other)
    finder.add(node, node.with_changes(func=func), "causal mask", "triangle inverted", ("causal_mask_inverted",))


STRICTER = {cst.LessThan: cst.LessThanEqual, cst.LessThanEqual: cst.LessThan,
            cst.GreaterThan: cst.GreaterThanEqual, cst.GreaterThanEqual: cst.GreaterThan}


def _mask_comparison(finder, node):
    """j > i -> j >= i in a statement that builds a mask (not a loop's or an if's condition)."""
    statement = finder.statement
    if statement is None or len(node.comparisons) != 1 or not _words(statement) & MASK_CONTEXT:
        return
    if isinstance(statement.body[0], (cst.Assert, cst.Raise)):
        return
    target = node.comparisons[0]
    if type(target.operator) in STRICTER:
        flipped = target.with_changes(operator=STRICTER[type(target.operator)]())
        mistakes = WINDOW if "window" in _words(statement) else DIAGONAL
        finder.add(node, node.with_changes(comparisons=[flipped]), "causal mask", "mask comparison's boundary moved",
                   mistakes)


def _window_bound(finder, node):
    """i - window + 1 -> i - window: the window one key wider."""
    if (isinstance(node.operator, (cst.Add, cst.Subtract)) and _integer(node.right) == 1
            and "window" in _words(node.left)):
        finder.add(node, _code(node.left), "causal mask", "window bound off by one", WINDOW)


# --- transposes and heads ----------------------------------------------------------------------


def _transpose(finder, node):
    """x.transpose(1, 2), k.swapaxes(-1, -2), np.swapaxes(k, ...), x.permute(...) -> x."""
    name = _callee(node)
    if name not in TRANSPOSES or (name == "t" and node.args) or not isinstance(node.func, cst.Attribute):
        return
    mistakes = _transposed(finder)
    if not _is_method(node) and node.args:
        finder.add(node, _code(node.args[0].value), "transpose", "transpose removed", mistakes)
    elif _is_method(node):
        finder.add(node, _code(node.func.value), "transpose", "transpose removed", mistakes)


def _transposed(finder):
    """What a transpose removed stands for: inside a softmax, its axis; elsewhere, a product's operand."""
    return SOFTMAX_AXIS if any("softmax" in name.lower() for name in finder.functions) else TRANSPOSED


# The axes of a transpose that brings (batch, heads, seq, d_k) to (batch, seq, heads, d_k), as
# PyTorch (two axes swapped) and numpy or permute (every axis) write them.
HEADS_TO_SEQ = ([1, 2], [2, 1], [0, 2, 1, 3])


def _heads_merged_averaged(finder, node):
    """y.transpose(1, 2).reshape(batch, seq, d_model), y.transpose(0, 2, 1, 3).reshape(...),
    y.permute(0, 2, 1, 3).reshape(...) -> y.mean(1): the heads averaged, not merged."""
    inner = node.func.value if isinstance(node.func, cst.Attribute) else None
    if (_callee(node) in ("reshape", "view") and isinstance(inner, cst.Call)
            and _callee(inner) in ("transpose", "swapaxes", "permute") and _is_method(inner) and _axes(inner) in HEADS_TO_SEQ):
        finder.add(node, f"{_code(inner.func.value)}.mean(1)", "heads", "heads averaged", ("heads_averaged",))


def _axes(call):
    """The integers a call's arguments spell, one by one or as one tuple: x.transpose((0, 2, 1, 3))."""
    args = [arg.value for arg in call.args]
    if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
        args = [element.value for element in args[0].elements]
    return [_integer(arg) for arg in args]


def _heads_averaged(finder, node):
    """concatenate(heads, axis=-1) -> the heads' mean: the output d_k wide, not d_model."""
    if _callee(node) not in CONCATENATIONS or not node.args or _pair(node) is not None:
        return  # (two parts: a cache or a rotation's halves, not heads)
    axis = _argument(node, ("axis", "dim"), 1)
    if axis is None or _integer(axis.value) != -1:
        return
    parts = node.args[0].value
    if _words(parts) & (CACHE_WORDS | {"sin", "cos", "x1", "x2"}):
        return
    owner = _owner(node) or "np"
    finder.add(node, f"{owner}.stack({_code(parts)}).mean(0)", "heads", "heads averaged", ("heads_averaged",))


def _cached_part(node):
    """The new part of concatenate([cache, new], axis), or None when `node` is no such call."""
    pair = _pair(node) if _callee(node) in CONCATENATIONS else None
    if pair is None:
        return None
    old, new = pair
    return new if _words(old) & CACHE_WORDS and not _words(new) & CACHE_WORDS else None


class _DropCache(cst.CSTTransformer):
    def leave_Call(self, original, updated):
        new = _cached_part(updated)
        return updated if new is None else new


def _cache_dropped(finder, statement):
    """Every concatenate([cache, new]) of a statement -> new: the keys' and the values' history lost
    together (one of them alone would be another mistake: values read at the wrong positions)."""
    calls = [call for call in _calls(statement) if _cached_part(call) is not None]
    if calls:
        first = calls[0]
        finder.add(statement, statement.visit(_DropCache()), "cache", "cache dropped", ("cache_loses_history",),
                   shown=(first, _cached_part(first)))


def _repeat_interleave(finder, node):
    """k.repeat_interleave(n, dim=1) / np.repeat(k, n, axis=1), kept with its tiled form (query head
    h reading kv head h % n_kv) until its function is walked: keys and values are tiled together."""
    name = _callee(node)
    if name == "repeat_interleave" and isinstance(node.func, cst.Attribute):
        times, axis = _argument(node, ("repeats",), 0), _argument(node, ("dim",), 1)
        if times is not None and axis is not None:
            finder.repeats[-1].append(
                (node, _expression(f"torch.cat([{_code(node.func.value)}] * {_code(times.value)}, dim={_code(axis.value)})")))
    elif name == "repeat" and _owner(node) in ("np", "numpy", "jnp", "torch"):
        array, times, axis = _argument(node, ("a",), 0), _argument(node, ("repeats",), 1), _argument(node, ("axis", "dim"), 2)
        if array is not None and times is not None and axis is not None:
            join = "cat" if _owner(node) == "torch" else "concatenate"
            finder.repeats[-1].append((node, _expression(f"{_owner(node)}.{join}([{_code(array.value)}] * {_code(times.value)}, "
                                                         f"{'dim' if join == 'cat' else 'axis'}={_code(axis.value)})")))


KEY_WORDS, VALUE_WORDS = {"k", "key", "keys", "xk"}, {"v", "value", "values", "xv"}


def _tiled(finder, function, repeats):
    """The key/value heads' repeats of one function (None: the module's own statements) tiled: all
    of them at once (the heads tiled), and the values' alone (the values tiled, the keys not). The
    keys' alone stand for no mistake of the catalogue; a lone repeat of neither, as a helper's
    repeat_kv(x) writes it, serves both."""
    if len(repeats) > 1 and function is not None:
        tiles = dict(repeats)
        finder.add(function, function.visit(_Replaced(tiles)), "grouped query", "kv heads tiled",
                   ("kv_heads_tiled", "varlen_kv_heads_tiled"), shown=repeats[0])
    for call, tiled in repeats:
        words = _words(call.func.value if _callee(call) == "repeat_interleave" else call.args[0].value)
        if words & VALUE_WORDS:
            finder.add(call, tiled, "grouped query", "values tiled", ("kv_values_tiled",))
        elif len(repeats) == 1 and not words & KEY_WORDS:
            finder.add(call, tiled, "grouped query", "kv heads tiled", ("kv_heads_tiled", "varlen_kv_heads_tiled"))


class _Replaced(cst.CSTTransformer):
    """Each of the given nodes (by identity) replaced."""

    def __init__(self, replacements):
        super().__init__()
        self.replacements = replacements

    def leave_Call(self, original, updated):
        return self.replacements.get(original, updated)


def _expand_tiled(finder, node):
    """x[:, :, None].expand(b, n_kv, n_rep, ...) -> x[:, None].expand(b, n_rep, n_kv, ...): the
    key/value heads repeated as a whole (tiled), not each in place (Llama's repeat_kv)."""
    receiver = node.func.value if _callee(node) == "expand" and _is_method(node) else None
    if not isinstance(receiver, cst.Subscript) or len(node.args) != len(receiver.slice):
        return
    nones = [i for i, element in enumerate(receiver.slice)
             if isinstance(element.slice, cst.Index) and _code(element.slice.value) == "None"]
    if len(nones) != 1 or nones[0] == 0:
        return
    p = nones[0]
    elements, args = list(receiver.slice), list(node.args)
    elements[p - 1], elements[p] = (elements[p - 1].with_changes(slice=receiver.slice[p].slice),
                                    elements[p].with_changes(slice=receiver.slice[p - 1].slice))
    args[p - 1], args[p] = args[p - 1].with_changes(value=node.args[p].value), args[p].with_changes(value=node.args[p - 1].value)
    tiled = node.with_changes(func=node.func.with_changes(value=receiver.with_changes(slice=elements)), args=args)
    finder.add(node, tiled, "grouped query", "kv heads tiled", ("kv_heads_tiled", "varlen_kv_heads_tiled"))


# --- rotary positions --------------------------------------------------------------------------


def _rotary(finder, node):
    """sin(angles) -> -sin(angles): the rotation turned backwards (not in a sinusoidal encoding);
    polar(r, -angles); rotate_half's sign."""
    name = _callee(node)
    if name == "sin" and not _in_encoding(finder):
        finder.add(node, f"-{_code(node)}", "rotary", "rotation sign flipped", TURNED_BACK)
    if name == "polar" and len(node.args) == 2:
        angle = node.args[1]
        finder.add(angle.value, f"-{_code(angle.value)}", "rotary", "rotation sign flipped", TURNED_BACK)
    pair = _pair(node) if name in (*CONCATENATIONS, "stack") else None  # rotate_half: cat((-x2, x1))
    if pair is not None:
        parts, (first, second) = node.args[0].value, pair
        if _negated(first) is not None and _negated(second) is None:
            flipped = parts.with_changes(elements=[parts.elements[0].with_changes(value=_negated(first)),
                                                   parts.elements[1].with_changes(value=_expression(f"-{_code(second)}"))])
            finder.add(parts, flipped, "rotary", "rotation sign flipped", TURNED_BACK)


def _pair(call):
    """(first, second) of a call whose first argument is a list or tuple of two, else None."""
    parts = call.args[0].value if call.args else None
    if not isinstance(parts, (cst.List, cst.Tuple)) or len(parts.elements) != 2:
        return None
    return tuple(element.value for element in parts.elements)


def _negated(node):
    """x for -x, else None."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return node.expression
    return None


class _SwapSinCos(cst.CSTTransformer):
    def leave_Call(self, original, updated):
        name = _callee(updated)
        if name not in ("sin", "cos"):
            return updated
        other = cst.Name("cos" if name == "sin" else "sin")
        return updated.with_changes(func=updated.func.with_changes(attr=other) if isinstance(updated.func, cst.Attribute)
                                    else other)


def _in_encoding(finder):
    """Whether the code walked is a sinusoidal encoding's, by the names of its function or class."""
    words = {part.lower() for name in finder.functions for part in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)}
    return bool(words & ENCODING_WORDS)


def _sin_cos_swapped(finder, function):
    """Every sin of a sinusoidal encoding's function made cos and every cos sin: one mutant, shown at
    the first of them."""
    calls = [node for node in _calls(function) if _callee(node) in ("sin", "cos")]
    if {_callee(node) for node in calls} == {"sin", "cos"} and _in_encoding(finder):
        first = calls[0]
        finder.add(function, function.visit(_SwapSinCos()), "rotary", "sin and cos swapped", ("sin_cos_swapped",),
                   shown=(first, first.visit(_SwapSinCos())))


def _calls(node):
    found = []

    class Calls(cst.CSTVisitor):
        def visit_Call(self, call):
            found.append(call)

    node.visit(Calls())
    return found


def _positions(finder, node):
    """arange(n) -> arange(1, n + 1): positions counted from one."""
    if _callee(node) == "arange" and len(node.args) == 1 and node.args[0].keyword is None:
        n = _code(node.args[0].value)
        statement = finder.statement
        if statement is not None and _words(statement) & {"pos", "position", "positions", "t", "freqs", "angles", "seq"}:
            finder.add(node, node.with_changes(args=[cst.Arg(cst.Integer("1")), cst.Arg(_expression(f"{n} + 1"))]),
                       "position", "positions from one", ("positions_from_one", "rope_positions_restart"))


# --- projections -------------------------------------------------------------------------------


def _projection(finder, node, name, make):
    """w_v -> w_k, v_proj -> k_proj, wv -> wk: the values projected with the keys' weights, where the
    file has both names; w_k -> w_q likewise, the keys projected with the queries' weights."""
    for old, new, mistakes in (("v", "k", ("values_from_key_weights",)), ("k", "q", ("keys_from_query_weights",))):
        swapped = _swapped(name, old, new)
        if swapped and swapped in finder.identifiers:
            finder.add(node, make(swapped), "projection", f"{old} projection replaced by {new}", mistakes)


def _swapped(name, old, new):
    """`name` with its one-letter part `old` made `new` (w_v -> w_k, v_proj -> k_proj, wv -> wk), else None."""
    match = re.fullmatch(rf"(w_?|W_?)?{old}(_proj|_weight|_weights|proj)?", name)
    if match is None or not (match.group(1) or match.group(2)):
        return None
    return f"{match.group(1) or ''}{new}{match.group(2) or ''}"
