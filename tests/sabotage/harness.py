"""Planted bugs: does a wrong formula in ``lib`` fail the book?

The catalogue is one TOML file per chapter, ``tests/sabotage/NN-name.toml``, each a
list of ``[[bug]]`` entries. A bug is applied *from outside*: before the chapter's
first cell runs, the kernel replaces the target with a broken copy. ``lib`` holds no
sabotage hooks. Entry kinds (exactly one of ``replace``, ``scale``):

``replace = ["old", "new"]``
    Edit the source of ``target`` (a function, or a method ``lib.mod.Class.meth``):
    the text ``old`` must occur exactly once (or ``count`` times); the edited source
    is compiled under the original file name and bound in place of the original,
    in its module and wherever ``lib`` re-exports it.
``scale = 1.001``
    Multiply the result of ``target`` (a number, an array, or each array of a tuple)
    by a factor: a constant slightly off.

Other keys: ``id`` (unique in the file), ``why`` (the realistic slip it models),
``smoke = true`` on the one bug per chapter that ``make test`` also runs.

Outcome of one bug: CAUGHT by the ledger claim whose ``AssertionError`` stopped the
chapter; CRASHED if another error stopped it (a fragile cell, not a check: counts as
not caught); MISSED if the chapter ran to its end; NOT EXERCISED if the planted
function never ran (the chapter does not reach it: neither caught nor missed).

``python tests/sabotage/harness.py`` (``make sabotage``) runs the whole catalogue, one
kernel per core, and writes ``tests/sabotage/report.json`` and ``report.md``; with
chapter names it runs only theirs and replaces their rows in the report (which then
says when they were re-run); ``--smoke`` runs the smoke bugs and fails unless each is
caught (``make test`` does this), and ``--no-report`` only prints.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import os
import re
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = Path(__file__).resolve().parent
KINDS = ("replace", "scale")


@dataclass(frozen=True)
class Bug:
    chapter: str
    id: str
    why: str
    kind: str
    target: str
    spec: dict
    smoke: bool = False

    @property
    def key(self) -> str:
        return f"{self.chapter}::{self.id}"


@dataclass
class Outcome:
    chapter: str
    id: str
    target: str
    why: str
    status: str  # CAUGHT, CRASHED, MISSED, NOT EXERCISED
    caught_by: str
    detail: str
    seconds: float


# -- the catalogue ---------------------------------------------------------------
def load_catalogue(chapters: list[str] | None = None) -> list[Bug]:
    """Every bug in ``tests/sabotage/*.toml`` (or only those of ``chapters``)."""
    bugs: list[Bug] = []
    for path in sorted(CATALOGUE.glob("*.toml")):
        chapter = path.stem
        if chapters and chapter not in chapters:
            continue
        if not (ROOT / "book" / f"{chapter}.md").is_file():
            raise ValueError(f"{path.name}: no chapter book/{chapter}.md")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        seen: set[str] = set()
        for entry in data.get("bug", []):
            kinds = [k for k in KINDS if k in entry]
            if len(kinds) != 1:
                raise ValueError(f"{path.name}: bug {entry.get('id')!r} needs one of {KINDS}")
            bug_id = entry.get("id")
            if not bug_id or bug_id in seen:
                raise ValueError(f"{path.name}: missing or duplicate id {bug_id!r}")
            seen.add(bug_id)
            kind = kinds[0]
            target = entry.get("target", "")
            if not target.startswith("lib."):
                raise ValueError(f"{path.name}: bug {bug_id}: target must be lib.<module>.<name>")
            bugs.append(Bug(chapter, bug_id, entry.get("why", ""), kind, target,
                            {k: v for k, v in entry.items()}, bool(entry.get("smoke"))))
    return bugs


def _resolve(target: str) -> tuple[Any, str, Any]:
    """(owner object, attribute name, current value) for ``lib.mod[.Class].name``."""
    import importlib

    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"cannot import {target}")


def _rebind(owner: Any, name: str, original: Any, broken: Any) -> None:
    """Bind ``broken`` in place of ``original`` in its owner and every lib re-export."""
    setattr(owner, name, broken)
    for module_name, module in list(sys.modules.items()):
        if module_name == "lib" or module_name.startswith("lib."):
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, broken)


def _marking(function: Any, marker: str | None) -> Any:
    """``function``, touching the file ``marker`` the first time it is called."""
    import functools

    if marker is None:
        return function

    @functools.wraps(function)
    def marked(*args: Any, **kwargs: Any) -> Any:
        if not os.path.exists(marker):
            Path(marker).touch()
        return function(*args, **kwargs)

    return marked


def check_entry(spec: dict) -> None:
    """Raise ValueError unless ``spec`` can be planted (target found, text present)."""
    import inspect
    import textwrap

    _, _, original = _resolve(spec["target"])
    if "replace" in spec:
        old, _new = spec["replace"]
        func = inspect.unwrap(original)
        func = getattr(func, "__func__", func)
        source = textwrap.dedent(inspect.getsource(func))
        count, wanted = source.count(old), int(spec.get("count", 1))
        if count != wanted:
            raise ValueError(f"{spec['target']}: {old!r} occurs {count} times, expected {wanted}")
    elif not callable(original):
        raise ValueError(f"{spec['target']} is not callable")


def apply(spec: dict, marker: str | None = None) -> None:
    """Plant one bug in this process (called in the chapter's kernel).

    ``marker``, if given, is a file created when the broken function first runs.
    """
    import functools
    import inspect
    import textwrap

    owner, name, original = _resolve(spec["target"])
    if "scale" in spec:
        import numpy as np

        factor = float(spec["scale"])

        def scaled(result: Any) -> Any:
            if isinstance(result, tuple):
                return tuple(scaled(r) for r in result)
            if isinstance(result, np.ndarray):
                return result * factor
            if isinstance(result, (int, float, np.floating, np.integer)):
                return type(result)(result * factor) if isinstance(result, float) else result * factor
            return result * factor

        @functools.wraps(original)
        def broken(*args: Any, **kwargs: Any) -> Any:
            return scaled(original(*args, **kwargs))

        _rebind(owner, name, original, _marking(broken, marker))
        return

    old, new = spec["replace"]
    function = inspect.unwrap(original)
    func = getattr(function, "__func__", function)
    source = textwrap.dedent(inspect.getsource(func))
    count = source.count(old)
    wanted = int(spec.get("count", 1))
    if count != wanted:
        raise ValueError(f"{spec['target']}: {old!r} occurs {count} times, expected {wanted}")
    edited = source.replace(old, new)
    filename = inspect.getsourcefile(func) or "<sabotage>"
    first_line = func.__code__.co_firstlineno
    code = compile("\n" * (first_line - 1) + edited, filename, "exec")
    import inspect as _inspect

    if _inspect.ismodule(owner):
        # Compiled into the module's own namespace: lib's internal callers, which look
        # the name up in the module's globals, see the bug too.
        exec(code, owner.__dict__)  # noqa: S102 - the edited copy of lib's own source
        replacement = _marking(owner.__dict__[name], marker)
        owner.__dict__[name] = original
    else:
        namespace = dict(func.__globals__)
        exec(code, namespace)  # noqa: S102
        replacement = _marking(namespace[func.__name__], marker)
        if isinstance(_inspect.getattr_static(owner, name, None), staticmethod):
            replacement = staticmethod(replacement)
    _rebind(owner, name, original, replacement)


# -- running a chapter ------------------------------------------------------------
def chapter_notebook(chapter: str) -> Any:
    import jupytext

    return jupytext.read(ROOT / "book" / f"{chapter}.md")


_CLAIM = re.compile(r"claim (\S+) \(")


def run_chapter(chapter: str, spec: dict | None, timeout: int = 600) -> tuple[str, str, str]:
    """Execute ``chapter`` with the bug ``spec`` planted; (status, caught_by, detail)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    import tempfile

    notebook = chapter_notebook(chapter)
    marker = None
    if spec is not None:
        marker = os.path.join(tempfile.mkdtemp(prefix="sabotage-"), "exercised")
        plant = (
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT / 'tests' / 'sabotage')!r})\n"
            "import harness as _sabotage\n"
            f"_sabotage.apply({spec!r}, {marker!r})\n"
            "del _sabotage"
        )
        notebook.cells.insert(0, nbformat.v4.new_code_cell(plant))
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "book")}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        ename, evalue = error.ename, str(error.evalue)
        if ename == "AssertionError":
            claim = _CLAIM.search(evalue)
            if claim:
                return "CAUGHT", claim.group(1), evalue[:200]
        return "CRASHED", "", f"{ename}: {evalue[:200]}"
    if marker is not None and not os.path.exists(marker):
        return "NOT EXERCISED", "", "the planted function never ran"
    return "MISSED", "", ""


def run_bug(bug: Bug) -> Outcome:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.pop("MPLBACKEND", None)
    start = time.perf_counter()
    try:
        status, by, detail = run_chapter(bug.chapter, bug.spec)
    except Exception as error:  # the harness itself failed: report, do not hide
        status, by, detail = "CRASHED", "", f"harness: {type(error).__name__}: {error}"
    return Outcome(bug.chapter, bug.id, bug.target, bug.why, status, by, detail,
                   round(time.perf_counter() - start, 1))


# -- which lib functions a chapter calls --------------------------------------------
def called_functions(chapter: str) -> set[str]:
    """Public ``lib`` functions the chapter's code cells call (by static analysis)."""
    notebook = chapter_notebook(chapter)
    aliases: dict[str, str] = {}  # local name -> "lib.mod" or "lib.mod.func"
    calls: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lib"):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("lib"):
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                base = aliases.get(node.value.id)
                if base and not node.attr.startswith("_"):
                    calls.add(f"{base}.{node.attr}")
            elif isinstance(node, ast.Name) and node.id in aliases:
                calls.add(aliases[node.id])
    modules = {c for c in calls if c.count(".") == 1}
    import importlib
    import inspect

    functions = set()
    for name in calls - modules:
        module_name, attr = name.rsplit(".", 1)
        if module_name == "lib":
            continue
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and module_name != "lib.checks":
            functions.add(name)
    return functions


def reached_from(public: str) -> set[str]:
    """``public`` and the functions of its module it calls, directly or not.

    A bug planted in a private helper (``lib.angles._pdf_values``) counts for each
    public function that runs that helper (``lib.angles.angle_pdf``).
    """
    import importlib
    import inspect

    module_name, _ = public.rsplit(".", 1)
    module = importlib.import_module(module_name)
    seen, todo = set(), [public]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        obj = inspect.unwrap(getattr(module, name.rsplit(".", 1)[1], None) or (lambda: None))
        code = getattr(obj, "__code__", None)
        if code is None and inspect.isclass(obj):
            names = {n for f in vars(obj).values() if hasattr(f, "__code__")
                     for n in f.__code__.co_names}
        else:
            names = set(code.co_names) if code is not None else set()
            for const in code.co_consts if code is not None else ():
                if hasattr(const, "co_names"):  # nested functions and lambdas
                    names |= set(const.co_names)
        for called in names:
            if inspect.isfunction(getattr(module, called, None)):
                todo.append(f"{module_name}.{called}")
    return seen


# -- the report ---------------------------------------------------------------------
def write_report(
    outcomes: list[Outcome], bugs: list[Bug], seconds: float, *, partial: bool = False
) -> None:
    """Write report.json and report.md.

    A ``partial`` run (some chapters) replaces those chapters' rows in the existing
    report and records the date of the re-run; the other rows are kept.
    """
    chapters = sorted({b.chapter for b in bugs})
    coverage = {}
    for chapter in chapters:
        targets = [b.target.rsplit(".", 1)[0] if b.target.split(".")[-2][:1].isupper()
                   else b.target for b in bugs if b.chapter == chapter]
        called = called_functions(chapter)
        coverage[chapter] = sorted(
            f for f in called if sum(t in reached_from(f) for t in targets) < 2
        )
    today = _dt.date.today().isoformat()
    data = {
        "date": today,
        "seconds": round(seconds, 1),
        "outcomes": [asdict(o) for o in outcomes],
        "under_covered": coverage,
    }
    previous_file = CATALOGUE / "report.json"
    if partial and previous_file.exists():
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
        kept = [o for o in previous["outcomes"] if o["chapter"] not in chapters]
        data = {
            "date": previous["date"],
            "seconds": previous["seconds"],
            "outcomes": sorted(kept + data["outcomes"], key=lambda o: o["chapter"]),
            "under_covered": previous["under_covered"] | coverage,
            "reruns": previous.get("reruns", {}) | {c: today for c in chapters},
        }
    (CATALOGUE / "report.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (CATALOGUE / "report.md").write_text(render_markdown(data), encoding="utf-8")


def render_markdown(data: dict) -> str:
    outcomes = data["outcomes"]
    chapters = sorted({o["chapter"] for o in outcomes})
    lines = [
        f"Planted-bug run of {data['date']} (`make sabotage`, {data['seconds']:.0f} s on "
        "2 cores).",
        "",
    ]
    if data.get("reruns"):
        reruns = ", ".join(f"{c[:2]} on {d}" for c, d in sorted(data["reruns"].items()))
        lines += [
            f"Chapters re-run since, one at a time (`make sabotage CHAPTER=...`): {reruns}.",
            "",
        ]
    lines += [
        "| Chapter | Planted | Caught by a claim | Missed | Crashed | Not exercised "
        "| lib functions with < 2 bugs |",
        "|---|---|---|---|---|---|---|",
    ]
    for chapter in chapters:
        rows = [o for o in outcomes if o["chapter"] == chapter]
        caught = sum(o["status"] == "CAUGHT" for o in rows)
        crashed = sum(o["status"] == "CRASHED" for o in rows)
        missed = sum(o["status"] == "MISSED" for o in rows)
        idle = sum(o["status"] == "NOT EXERCISED" for o in rows)
        under = len(data["under_covered"].get(chapter, []))
        lines.append(f"| {{doc}}`{chapter}` | {len(rows)} | {caught} | {missed} | "
                     f"{crashed} | {idle} | {under} |")
    total = len(outcomes)
    caught = sum(o["status"] == "CAUGHT" for o in outcomes)
    lines += ["", f"In all: {caught} of {total} planted bugs caught by a claim.", ""]
    lines += ["| Chapter | Bug | Planted in | Outcome |", "|---|---|---|---|"]
    for o in outcomes:
        shown = {"CAUGHT": f"caught by `{o['caught_by']}`", "CRASHED": "crashed (not a catch)",
                 "MISSED": "**missed**", "NOT EXERCISED": "not exercised"}[o["status"]]
        why = o["why"].replace("|", "\\|")
        lines.append(f"| {o['chapter'][:2]} | {why} | `{o['target']}` | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapters (default: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="only the smoke bugs; exit 1 unless every one is caught")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-report", action="store_true", help="print, do not write")
    args = parser.parse_args(argv)
    bugs = load_catalogue(args.chapters or None)
    if args.smoke:
        bugs = [b for b in bugs if b.smoke]
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(run_bug, bugs):
            outcomes.append(outcome)
            shown = outcome.caught_by or outcome.detail[:100]
            print(f"{outcome.status:8} {outcome.chapter} {outcome.id}: {shown} "
                  f"({outcome.seconds:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    for chapter in sorted({o.chapter for o in outcomes}):
        rows = [o for o in outcomes if o.chapter == chapter]
        counts = {s: sum(o.status == s for o in rows)
                  for s in ("CAUGHT", "MISSED", "CRASHED", "NOT EXERCISED")}
        print(f"  {chapter}: {counts['CAUGHT']} of {len(rows)} caught, {counts['MISSED']} missed, "
              f"{counts['CRASHED']} crashed, {counts['NOT EXERCISED']} not exercised")
    caught = sum(o.status == "CAUGHT" for o in outcomes)
    print(f"sabotage: {caught} of {len(outcomes)} caught in {seconds:.0f} s")
    if args.smoke:
        return 0 if caught == len(outcomes) and outcomes else 1
    # The committed report describes the whole catalogue; a run of some chapters
    # replaces their rows in it.
    if not args.no_report:
        write_report(outcomes, bugs, seconds, partial=bool(args.chapters))
        print(f"sabotage: report written to {CATALOGUE / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
