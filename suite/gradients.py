"""How the backward callables' results are read: one gradient at a time, named as messages name it."""

from attention_conformance.cases import PARAMS
from attention_conformance.contract import DIFFERENTIABLE


def gradients(capability):
    """[(name, observe)] for each gradient the callable returns, in order: "dq" reads result[0]...;
    a callable of one differentiable input returns its gradient alone; d_params one weight each."""
    names = DIFFERENTIABLE[capability]
    if len(names) == 1:
        return [(f"d{names[0]}", lambda result: result)]
    found = []
    for index, name in enumerate(names):
        if name == "params":
            found += [(f"d_params[{key!r}]", reader(index, key)) for key in PARAMS]
        else:
            found.append((f"d{name}" if len(name) == 1 else f"d_{name}", reader(index)))
    return found


def reader(index, key=None):
    if key is None:
        return lambda result: result[index]
    return lambda result: result[index][key]
