"""Finding the implementation under test by name, and looking up its callables."""

import collections
import importlib
import inspect
import sys

import pytest

from attention_conformance.contract import CAPABILITIES
from attention_conformance.declaration import Declaration, DeclarationError
from attention_conformance.isolation import CallTimedOut, deadline, give_up
from attention_conformance.precision import allowance


class LoadError(Exception):
    """The implementation's name does not lead to a usable module or object."""


class Implementation:
    """The module (or object) under test, named as `package.module` or `package.module:attr`,
    with the run's settings: `dtype` of the inputs, `strict` (a missing callable fails its
    checks instead of skipping them), `timeout` (the seconds a call may take; 0: no limit), and
    what it declares in CONFORMANCE."""

    def __init__(self, name, target, strict=False, timeout=0, dtype="float64"):
        self.name = name
        self.target = target
        self.strict = strict
        self.timeout = timeout
        self.dtype = dtype
        self.stuck = give_up  # the plugin puts its own in: it knows the check and the terminal
        self.measured = {}  # measure.py's findings by call signature: checks of the same sizes share them
        # How many failing checks of each callable had a costly diagnosis in this run, by kind
        # ("probed", "large"): the diagnosis caps them (diagnosis.py, probes.py).
        self.diagnosed = collections.Counter()
        try:
            self.declaration = Declaration.parse(getattr(target, "CONFORMANCE", None))
        except DeclarationError as error:
            raise LoadError(f"{name!r}: {error}") from None

    @property
    def allowance(self):
        """The tolerance (float64, float32) or error budget (float16, bfloat16) of the run."""
        return allowance(self.dtype)

    def allowance_of(self, capability):
        """The run's allowance on the answers of `capability` (a float32 gradient's is wider: precision.py)."""
        return allowance(self.dtype, capability)

    @property
    def file(self):
        """Where the implementation is defined, for the report header."""
        return source_file(self.target, self.name.partition(":")[0])

    def provides(self, capability):
        """Whether the implementation has something under the callable's name (None counts as nothing)."""
        return getattr(self.target, capability, None) is not None

    def function(self, capability):
        """The callable for `capability`; skips (fails, when strict) if it is not provided, fails
        if what is there cannot be called."""
        __tracebackhide__ = True
        if self.provides(capability):
            function = getattr(self.target, capability)
            if not callable(function):
                pytest.fail(f"{self.name} provides {capability} = {_short(function)} (of type {type(function).__name__}): "
                            f"the contract's {capability} is a function (or set it to None to leave it out)",
                            pytrace=False)
            return function
        reason = f"{self.name} does not provide {capability}"
        if self.strict:
            pytest.fail(f"{reason} (--impl-strict makes a missing capability a failure)", pytrace=False)
        pytest.skip(reason)


def _short(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def source_file(target, module_name):
    """The file that defines target (an object without one: the module named module_name)."""
    if not (inspect.ismodule(target) or inspect.isclass(target) or inspect.isroutine(target)):
        target = importlib.import_module(module_name)
    try:
        return inspect.getsourcefile(target) or "?"
    except TypeError:  # built in: no source file
        return "?"


def load(name, strict=False, timeout=0, dtype="float64", search=(), stuck=give_up):
    """Import `name` ("package.module" or "package.module:attr.sub") as an Implementation.

    The folders in `search` (where pytest was started, its rootdir) are added to the end of
    sys.path first, so that a module beside the user is found with plain `pytest` too; at the
    end, they shadow nothing installed (nor the mutated copies mutmut puts first). The import
    runs under the `timeout` too: a module whose import hangs is a LoadError, or, if it will not
    stop, `stuck(lines)` ends the process.
    """
    module_name, colon, attr_path = name.partition(":")
    if not _is_dotted(module_name) or (colon and not _is_dotted(attr_path)):
        raise LoadError(f"{name!r} is not a module path: expected package.module or package.module:attribute")
    for folder in map(str, search):
        if folder not in sys.path:
            sys.path.append(folder)
    late = f"importing {module_name} did not finish within {timeout:g} s (--impl-timeout)"
    hung = [f"{name!r}: {late}, and went on when interrupted: is something at import waiting, or looping?"]
    try:
        with deadline(timeout, on_stuck=lambda: stuck(hung, pytest.ExitCode.USAGE_ERROR)):
            target = _import(name, module_name)
    except CallTimedOut:
        raise LoadError(f"{name!r}: {late}: is something at import waiting, or looping?") from None
    for attr in attr_path.split(".") if attr_path else ():
        if not hasattr(target, attr):
            raise LoadError(f"{name!r}: {module_name} has no attribute {attr_path!r}")
        target = getattr(target, attr)
    implementation = Implementation(name, target, strict, timeout, dtype)
    if not any(implementation.provides(c) for c in CAPABILITIES):
        raise LoadError(f"{name!r} provides none of the contract's callables ({', '.join(CAPABILITIES)})")
    return implementation


def _is_dotted(text):
    """Whether text is a dotted name: identifiers joined by dots ("" is not)."""
    return all(part.isidentifier() for part in text.split("."))


def _import(name, module_name):
    # import_module keeps the module's real dotted name, which mutmut relies on.
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name + ".").startswith(error.name + "."):
            raise LoadError(_not_found(name, module_name, error.name)) from None
        raise LoadError(f"{name!r}: importing {module_name} raised {error!r}") from None
    except (CallTimedOut, KeyboardInterrupt):  # the time limit's, and the user's own, interruption
        raise
    except BaseException as error:  # the user's module raised (or exited) while importing: show what
        raise LoadError(f"{name!r}: importing {module_name} raised {error!r}") from None


def _not_found(name, module_name, missing):
    parent, _, attr = module_name.rpartition(".")
    if parent and missing == module_name:
        try:
            if hasattr(importlib.import_module(parent), attr):
                return f"{name!r}: {parent}.{attr} is not a module; to name an object write {parent}:{attr}"
        except Exception:
            pass
    return f"{name!r}: no module named {missing!r} (is it installed, or in the folder pytest runs from?)"
