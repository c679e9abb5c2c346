"""Checked implementations behind *Executable Derivations*.

One module per topic; each function's docstring names the chapter section where
the result it computes is derived.

Modules
-------
checks
    The claims ledger every chapter verifies its results through.
angles
    Angle between two random vectors in n dimensions (chapter 1).
"""

__all__ = ["checks", "angles"]
