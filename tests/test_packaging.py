"""lib as a package a reader installs: its dependencies are what it imports, pinned as
the book pins them (requirements.txt), and nothing else."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "IPython": "ipython", "myst_nb": "myst-nb",
                "ot": "POT"}


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for line in requirements:
        name, _, version = line.strip().partition("==")
        assert version, f"{line!r} is not pinned with =="
        pins[name.lower()] = version
    return pins


def _book_pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return _pins([line for line in lines if re.match(r"^[A-Za-z0-9]", line)])


def _lib_imports() -> tuple[set[str], set[str]]:
    """Third-party top-level modules lib imports: at module level, and inside functions."""
    top, inner = set(), set()
    for path in (ROOT / "lib").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                first = name.split(".")[0]
                if first in sys.stdlib_module_names or first in ("lib", "__future__"):
                    continue
                (top if id(node) in module_level else inner).add(first)
    return top, inner


def test_dependencies_are_pinned_as_the_book_pins_them() -> None:
    book = _book_pins()
    for group in [PROJECT["dependencies"], *PROJECT["optional-dependencies"].values()]:
        for name, version in _pins(group).items():
            assert book.get(name) == version, (
                f"pyproject.toml pins {name}=={version}, requirements.txt "
                f"{book.get(name)}")


def test_every_module_lib_imports_is_a_dependency() -> None:
    top, inner = _lib_imports()
    required = set(_pins(PROJECT["dependencies"]))
    extra = set(_pins(PROJECT["optional-dependencies"]["chapters"]))
    missing = {m for m in top if DISTRIBUTION.get(m, m).lower() not in required}
    assert not missing, f"lib imports {sorted(missing)} but does not depend on them"
    # imported inside a function (the ledger's glue into the page): the chapters extra
    optional = {m for m in inner - top
                if DISTRIBUTION.get(m, m).lower() not in required | extra}
    assert not optional, f"lib imports {sorted(optional)} in a function, in no extra"
    unused = required - {DISTRIBUTION.get(m, m).lower() for m in top}
    assert not unused, f"dependencies lib never imports: {sorted(unused)}"
