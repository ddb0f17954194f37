"""Loaded at start-up by each process that `python -m attention_conformance.mutate` runs (this folder
leads PYTHONPATH): every import of the mutated file, by any module, finds the mutant instead, as
mutmut 3 switches mutants at run time, so the adopter's tree is never written to and a module that
imports the file (an adapter, a test, a package of the standard site-packages) sees the mistake.

ATTENTION_CONFORMANCE_MUTANT_OF: the real path of the original file;
ATTENTION_CONFORMANCE_MUTANT: the file holding the mutated source.
"""

import importlib.abc
import importlib.machinery
import os
import sys


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, original, mutant):
        self.original, self.mutant = original, mutant

    def find_spec(self, fullname, path, target=None):
        for finder in sys.meta_path:  # the finders that would have found it: path, editable installs...
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.origin and os.path.realpath(spec.origin) == self.original:
                    spec.loader = _MutantLoader(fullname, spec.origin, self.mutant)
                    return spec
                return None
        return None


class _MutantLoader(importlib.machinery.SourceFileLoader):
    """The original's name and path (tracebacks point at its lines), the mutant's code, no .pyc written."""

    def __init__(self, fullname, path, mutant):
        super().__init__(fullname, path)
        self.mutant = mutant

    def get_source(self, fullname):
        with open(self.mutant, encoding="utf-8") as file:
            return file.read()

    def get_code(self, fullname):
        return compile(self.get_source(fullname), self.path, "exec", dont_inherit=True)


def _chain():
    """Python imports one sitecustomize, the first on the path: this one. The one it stands in front
    of (a project's, a distribution's) still runs, as it would have."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    this = sys.modules.pop("sitecustomize")
    try:
        import sitecustomize  # noqa: F401  (the next one on the path, if any)
    except ImportError:  # none: this one stays, as the import that runs it expects to find it there
        sys.modules["sitecustomize"] = this


if os.environ.get("ATTENTION_CONFORMANCE_MUTANT"):
    sys.meta_path.insert(0, _MutantFinder(os.environ["ATTENTION_CONFORMANCE_MUTANT_OF"],
                                          os.environ["ATTENTION_CONFORMANCE_MUTANT"]))
_chain()
