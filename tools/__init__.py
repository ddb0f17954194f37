"""Maintenance tools of the kit, run from the repository root (python -m tools.<name>)."""
