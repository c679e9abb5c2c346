"""Summarise mutmut results per module and sort the survivors.

Usage: python scripts/mutation_report.py MODULE [MODULE ...]

Reads _build/mutation/<module>/mutants/ (left by ``scripts/mutation``) and
rewrites tests/mutation/report.md (one row per module, rows of modules not
named are kept) and tests/mutation/survivors/<module>.md (every surviving
mutant as a one-line diff, sorted into kinds).

A survivor is *message-only* when the mutant differs from the original
function only in string constants that are part of an error message: inside a
``raise`` statement, or the ``name`` handed to a validator so that it appears
in the message.  The issue's target (90 % killed) does not count those.
A survivor listed in tests/mutation/equivalent.txt (one line per mutant:
``module.function | diff | reason``, the diff as the survivors page prints it) is
an equivalent mutant: no test can kill it, and it is not
counted either.
"""

from __future__ import annotations

import ast
import datetime
import difflib
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPORT = ROOT / "tests" / "mutation" / "report.md"
SURVIVORS = ROOT / "tests" / "mutation" / "survivors"
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.txt"

# validators (lib/_validation.py and each module's private helpers) whose
# non-first arguments, when they are the caller's ``name`` or text, only name
# the argument in an error message
NAMING_CALLS = re.compile(r"^(finite_array|real|flag|positive_int|_\w+)$")
# keyword arguments of those calls that are only quoted in messages
MESSAGE_KEYWORDS = ("name", "what", "interval")
KILLED, SURVIVED = 1, 0


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    """Every function definition in the mutated module, by name (methods too)."""
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _is_message_argument(node: ast.AST) -> bool:
    """Whether a call argument can only be text for a message: the caller's name."""
    if isinstance(node, ast.Name):
        return node.id == "name"
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, str)
    return isinstance(node, ast.JoinedStr)


class _BlankMessages(ast.NodeTransformer):
    """Replace every piece of error-message text by one placeholder."""

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        if isinstance(node.exc, ast.Call):
            node.exc.args = [ast.Constant("<message>")]
            node.exc.keywords = []
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        # for name, value in (("x", x), ("y", y)): the strings only name arguments
        target = node.target
        if (
            isinstance(target, ast.Tuple)
            and target.elts
            and isinstance(target.elts[0], ast.Name)
            and target.elts[0].id == "name"
            and isinstance(node.iter, (ast.Tuple, ast.List))
        ):
            for pair in node.iter.elts:
                if isinstance(pair, ast.Tuple) and pair.elts and _is_message_argument(pair.elts[0]):
                    pair.elts[0] = ast.Constant("<message>")
        self.generic_visit(node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        callee = node.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if name == "warn" or NAMING_CALLS.match(name):
            node.args = [node.args[0]] + [
                ast.Constant("<message>") if _is_message_argument(a) else a for a in node.args[1:]
            ] if node.args else []
            for keyword in node.keywords:
                if keyword.arg in MESSAGE_KEYWORDS and _is_message_argument(keyword.value):
                    keyword.value = ast.Constant("<message>")
        return node


def _blank_messages(function: ast.AST) -> str:
    """The function's AST with message text blanked, as text."""
    import copy

    return ast.dump(_BlankMessages().visit(copy.deepcopy(function)), annotate_fields=False)


def _diff(original: str, mutant: str) -> str:
    """The changed lines of a mutant, joined into one line."""
    changed = [
        line[1:].strip()
        for line in difflib.unified_diff(original.splitlines(), mutant.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return " => ".join(changed)


def _equivalents() -> dict[tuple[str, str], str]:
    """Mutants argued to be equivalent: (function, diff) -> reason."""
    known: dict[tuple[str, str], str] = {}
    if not EQUIVALENT.exists():
        return known
    for line in EQUIVALENT.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        function, diff, reason = (part.strip() for part in line.split(" | ", 2))
        known[(function, diff)] = reason
    return known


def summarise(module: str) -> tuple[str, str]:
    """Report row and survivors page of one module."""
    folder = ROOT / "_build" / "mutation" / module / "mutants"
    meta_path = folder / "lib" / f"{module}.py.meta"
    if not meta_path.exists():
        return f"| {module} | (no result: see _build/mutation/{module}/mutmut.log) |||||||", ""
    codes = json.loads(meta_path.read_text())["exit_code_by_key"]
    source = (folder / "lib" / f"{module}.py").read_text()
    tree = ast.parse(source)
    functions = _functions(tree)
    lines = source.splitlines()
    equivalents = _equivalents()
    total = len(codes)
    tested = {k: c for k, c in codes.items() if c is not None}
    killed = sum(c not in (SURVIVED, 33) for c in tested.values())
    kinds: dict[str, list[str]] = {"message": [], "equivalent": [], "other": []}
    for key, code in sorted(tested.items(), key=lambda kv: _natural(kv[0])):
        if code not in (SURVIVED, 33):
            continue
        name = key.split(".")[-1]
        stem = name.rsplit("__mutmut_", 1)[0]
        original, mutant = functions.get(stem + "__mutmut_orig"), functions.get(name)
        if original is None or mutant is None:
            kinds["other"].append(f"- `{key}`: (source not found)")
            continue
        text = _diff(
            "\n".join(lines[original.lineno - 1 : original.end_lineno]),
            "\n".join(lines[mutant.lineno - 1 : mutant.end_lineno]).replace(name, stem + "__mutmut_orig", 1),
        )
        function = stem[2:] if stem.startswith("x_") else stem[1:].replace("ǁ", ".").strip(".")
        reason = equivalents.get((f"{module}.{function}", text))
        if _blank_messages(original).replace(f"'{stem}__mutmut_orig'", "F") == _blank_messages(
            mutant
        ).replace(f"'{name}'", "F"):
            kinds["message"].append(f"- `{function}`: `{text}`")
        elif reason is not None:
            kinds["equivalent"].append(f"- `{function}`: `{text}` ({reason})")
        else:
            kinds["other"].append(f"- `{function}`: `{text}`")
    counted = len(tested) - len(kinds["message"]) - len(kinds["equivalent"])
    score = killed / len(tested) if tested else float("nan")
    target = killed / counted if counted else float("nan")
    partial = f" (partial: {len(tested)} of {total})" if len(tested) < total else ""
    row = (
        f"| {module} | {len(tested)}{partial} | {killed} | {len(kinds['message'])} | "
        f"{len(kinds['equivalent'])} | {len(kinds['other'])} | {score:.0%} | **{target:.0%}** |"
    )
    page = [f"# Surviving mutants of lib/{module}.py\n"]
    for kind, title in (
        ("other", "Not yet killed"),
        ("equivalent", "Equivalent (listed in tests/mutation/equivalent.txt)"),
        ("message", "Message only (the error text changes, nothing else)"),
    ):
        page.append(f"\n## {title}: {len(kinds[kind])}\n")
        page.extend(kinds[kind])
    return row, "\n".join(page) + "\n"


def _natural(key: str) -> tuple[str, int]:
    stem, _, number = key.rpartition("_")
    return stem, int(number) if number.isdigit() else 0


def main(modules: list[str]) -> None:
    SURVIVORS.mkdir(parents=True, exist_ok=True)
    rows: dict[str, str] = {}
    if REPORT.exists():
        for line in REPORT.read_text().splitlines():
            if line.startswith("| ") and not line.startswith("| module"):
                cells = line.split("|")
                if len(cells) == 10:  # rows in the current format only
                    rows[cells[1].strip()] = line
    for module in modules:
        row, page = summarise(module)
        rows[module] = row
        if page:
            (SURVIVORS / f"{module}.md").write_text(page)
    REPORT.write_text(
        "# Mutation testing of lib (mutmut 3.8.1)\n\n"
        "Written by `make mutation` (MODULE=name for one module). A mutant is killed\n"
        "when a test of tests/test_<module>.py fails; timeouts count as killed.\n"
        "Survivors are sorted in tests/mutation/survivors/<module>.md: *message* mutants\n"
        "change only the wording of an error message (or the argument name it reports);\n"
        "*equivalent* mutants compute the same thing and are argued one by one in\n"
        "tests/mutation/equivalent.txt. Target: at least 90 % of the other mutants\n"
        "killed in every module (last column).\n\n"
        f"Last run: {datetime.date.today()}\n\n"
        "| module | mutants tested | killed | message only | equivalent | other survivors "
        "| killed of all | killed of counted |\n|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows[k] for k in sorted(rows))
        + "\n"
    )
    print(REPORT.read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
