"""The hand-written mutants: one classic attention mistake each.

A mutant module holds only its faulty function(s), named and called like the reference's,
and a docstring that tells the mistake in a learner's words:

    \"\"\"scores not scaled

    Mistake: scaled_dot_product_attention computes q @ k^T without dividing by sqrt(d_k).
    Symptom: the scores grow with d_k and the softmax saturates towards one key.
    Fix: divide q @ k^T by sqrt(d_k) before the softmax.
    Seen in: esceptico/perceiver-io#9
    \"\"\"

(the first line is the mistake's title; "Seen in:" is optional, and so is "Measured:", the titles,
separated by "; ", that the kit's measuring instruments give this very mistake, which then name it
on any callable). The module ends with
`complete(globals())`, which adds every other function of the reference, rebound to the
module's own globals: they call the faulty function wherever the reference calls the right
one, so a faulty scaled_dot_product_attention changes what multi_head_attention computes.
The result is a whole implementation of the contract: `pytest --impl=attention_conformance.mutants.NAME`.
"""

import pkgutil
import types
from importlib import import_module

from attention_conformance import reference


def complete(namespace):
    """Fill a mutant module's globals with the reference's functions (and what they use), unless it defines them."""
    for name, value in _reference_globals().items():
        if name in namespace:
            continue
        namespace[name] = _rebound(value, namespace) if _is_reference_function(value) else value


def faulty_functions(module):
    """The names of the functions a mutant module defines itself (not those complete() added)."""
    return frozenset(name for name, function in reference_functions().items()
                     if getattr(module, name).__code__ is not function.__code__)


def reference_functions():
    """{name: function} for every function the reference defines, in its modules' order."""
    return {name: value for name, value in _reference_globals().items() if _is_reference_function(value)}


def _reference_globals():
    """The module-level names of every module of the reference (numpy, its functions), dunders aside."""
    found = {}
    for module_info in pkgutil.iter_modules(reference.__path__):
        module = import_module(f"{reference.__name__}.{module_info.name}")
        for name, value in vars(module).items():
            if not name.startswith("__"):
                assert found.get(name, value) is value, f"two reference modules define {name}"
                found[name] = value
    return found


def _is_reference_function(value):
    return isinstance(value, types.FunctionType) and value.__module__.startswith(reference.__name__ + ".")


def _rebound(function, namespace):
    """The same function, whose global names (the other functions it calls) resolve in `namespace`."""
    clone = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    clone.__kwdefaults__ = function.__kwdefaults__
    clone.__doc__ = function.__doc__
    clone.__qualname__ = function.__qualname__
    return clone
