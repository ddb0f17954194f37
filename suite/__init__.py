"""The attention conformance suite: a pytest plugin and the tests it runs (docs/contract.md)."""
