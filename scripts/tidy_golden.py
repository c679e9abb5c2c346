"""Make an executed golden notebook depend only on its chapter and on what it prints.

scripts/refresh-goldens runs this on each notebook it executes, so that refreshing an
unchanged chapter leaves no diff (it used to change every cell id, every execution
timestamp and every figure's bytes):

- a cell's id is derived from its source (the first 8 hex digits of its SHA-1, with
  -2, -3... for repeated sources), where jupytext draws a random one;
- execution timings are dropped (nbconvert also runs with record_timing off);
- figures are dropped: nbval never compares them (tests/conftest.py:
  VOLATILE_MIME_TYPES), and a figure is megabytes of churn;
- consecutive pieces of one output stream are joined (how a print is split into
  pieces depends on timing; nbval joins them the same way before comparing).

    python scripts/tidy_golden.py tests/notebooks/01-random-angles.ipynb ...
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter

import nbformat


def stable_cell_ids(sources: list[str]) -> list[str]:
    """One id per cell, from its source: the same chapter always gets the same ids."""
    seen: Counter[str] = Counter()
    ids = []
    for source in sources:
        digest = hashlib.sha1(source.encode("utf-8")).hexdigest()[:8]
        seen[digest] += 1
        ids.append(digest if seen[digest] == 1 else f"{digest}-{seen[digest]}")
    return ids


def tidy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell, cell_id in zip(
        notebook.cells, stable_cell_ids([c.source for c in notebook.cells]), strict=True
    ):
        cell.id = cell_id
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        outputs: list[nbformat.NotebookNode] = []
        for output in cell.outputs:
            for mime in [m for m in output.get("data", {}) if m.startswith("image/")]:
                del output["data"][mime]
            previous = outputs[-1] if outputs else None
            if (output.output_type == "stream" and previous is not None
                    and previous.output_type == "stream" and previous.name == output.name):
                previous.text += output.text
            else:
                outputs.append(output)
        cell.outputs = outputs
    return notebook


def main(paths: list[str]) -> None:
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.write(tidy(notebook), path)


if __name__ == "__main__":
    main(sys.argv[1:])
