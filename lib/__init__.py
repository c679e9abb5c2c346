"""Checked implementations behind *Executable Derivations*.

One module per topic; each function's docstring names the chapter section where
the result it computes is derived.

Modules
-------
checks
    The claims ledger every chapter verifies its results through.
angles
    Angle between two random vectors in n dimensions (chapter 1).
initialization
    Geometry of random weight matrices and initialization rules (chapter 2).
gaussian
    KL, Renyi and Bhattacharyya divergences and W2 between Gaussians (chapter 3).
hsic
    The Hilbert-Schmidt independence criterion and its estimators (chapter 4).
regularization
    Noise, gradient penalties and virtual adversarial training (chapter 5).
adversarial_validation
    Validation sets that look like the test set (chapter 6).
attention
    Multi-head attention, its low-rank bottleneck, talking heads (chapter 7).
taylor
    Even Taylor polynomials of exp and Taylor softmax (chapter 8).
"""

__all__ = [
    "checks",
    "angles",
    "initialization",
    "gaussian",
    "hsic",
    "regularization",
    "adversarial_validation",
    "attention",
    "taylor",
]
