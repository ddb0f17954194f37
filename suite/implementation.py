"""Finding the implementation under test by name, and looking up its callables."""

import importlib
import inspect

import pytest

from suite.contract import CAPABILITIES


class LoadError(Exception):
    """The implementation's name does not lead to a usable module or object."""


class Implementation:
    """The module (or object) under test, named as `package.module` or `package.module:attr`."""

    def __init__(self, name, target, strict=False):
        self.name = name
        self.target = target
        self.strict = strict

    @property
    def file(self):
        """Where the implementation is defined, for the report header."""
        target = self.target
        if not (inspect.ismodule(target) or inspect.isclass(target) or inspect.isroutine(target)):
            # An object (a SimpleNamespace, an instance): the module that defines it under its name.
            target = importlib.import_module(self.name.partition(":")[0])
        try:
            return inspect.getsourcefile(target) or "?"
        except TypeError:  # built in: no source file
            return "?"

    def provides(self, capability):
        return callable(getattr(self.target, capability, None))

    def function(self, capability):
        """The callable for `capability`; skips (fails, when strict) if it is not provided."""
        __tracebackhide__ = True
        if self.provides(capability):
            return getattr(self.target, capability)
        reason = f"{self.name} does not provide {capability}"
        if self.strict:
            pytest.fail(f"{reason} (--impl-strict makes a missing capability a failure)", pytrace=False)
        pytest.skip(reason)


def load(name, strict=False):
    """Import `name` ("package.module" or "package.module:attr.sub") as an Implementation."""
    module_name, colon, attr_path = name.partition(":")
    if not _is_dotted(module_name) or (colon and not _is_dotted(attr_path)):
        raise LoadError(f"{name!r} is not a module path: expected package.module or package.module:attribute")
    target = _import(name, module_name)
    for attr in attr_path.split(".") if attr_path else ():
        if not hasattr(target, attr):
            raise LoadError(f"{name!r}: {module_name} has no attribute {attr_path!r}")
        target = getattr(target, attr)
    implementation = Implementation(name, target, strict)
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
    except Exception as error:  # the user's module raised while importing: show what
        raise LoadError(f"{name!r}: importing {module_name} raised {error!r}") from None


def _not_found(name, module_name, missing):
    parent, _, attr = module_name.rpartition(".")
    if parent and missing == module_name:
        try:
            if hasattr(importlib.import_module(parent), attr):
                return f"{name!r}: {parent}.{attr} is not a module; to name an object write {parent}:{attr}"
        except Exception:
            pass
    return f"{name!r}: no module named {missing!r} (is it installed, or on sys.path from where pytest runs?)"
