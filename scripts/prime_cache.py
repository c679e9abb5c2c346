"""Execute the book's chapters into its jupyter-cache in parallel.

    python scripts/prime_cache.py [ROOT]     # ROOT defaults to the current directory

`make book` (Jupyter Book 1.x, execute_notebooks: cache) executes the chapters one
after another while Sphinx reads them, so a cold build takes the *sum* of the chapter
run times however many cores there are. This script adds every chapter listed in
_toc.yml to the same cache (_build/.jupyter_cache, read with myst-nb's own reader so the
hashes match) and runs them with jupyter-cache's `local-parallel` executor (one process
per core); the build that follows then only reads the cache. scripts/build-book calls
it after its cache-invalidation step. Exit status 1 if a chapter failed; the build then
executes that chapter itself and reports the error in full.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.executors import load_executor


def main(root: Path) -> int:
    chapters = re.findall(r"file:\s*(book/\d\d-[\w-]+)", (root / "_toc.yml").read_text())
    cache = get_cache(str(root / "_build/.jupyter_cache"))
    for chapter in chapters:
        cache.add_nb_to_project(str(root / f"{chapter}.md"),
                                read_data={"type": "plugin", "name": "myst_nb_md"})
    t0 = time.perf_counter()
    result = load_executor("local-parallel", cache).run_and_cache(timeout=300)
    print(f"prime_cache: {len(result.succeeded)} chapters executed in parallel in "
          f"{time.perf_counter() - t0:.1f} s; failed: {result.excepted or 'none'}", file=sys.stderr)
    for record in cache.list_cache_records():
        seconds = record.data.get("execution_seconds")
        if seconds is not None:
            print(f"prime_cache: {Path(record.uri).name} {seconds:.1f} s", file=sys.stderr)
    return 1 if result.excepted else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))
