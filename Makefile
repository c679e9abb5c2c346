# Entry points; each sets up .venv/ first. See README.md.
.PHONY: book test site-test goldens lab clean bench bench-book format sabotage mutation

book:            ## build the site into _build/html
	scripts/build-book

test:            ## everything CI runs: build, lib tests, golden sync, nbval
	scripts/test

site-test:       ## after `make book`: the site's own tests (assets, links, downloads, Chromium)
	scripts/setup-env
	.venv/bin/python -m pytest -q -n 2 tests/site

goldens:         ## refresh tests/notebooks/*.ipynb (CHAPTER=01-random-angles for one)
	scripts/refresh-goldens $(CHAPTER)

lab:             ## open the chapters as notebooks in JupyterLab
	scripts/setup-env
	.venv/bin/jupyter lab --notebook-dir=book $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench:           ## benchmark lib against reference libraries (a report, not a test)
	scripts/setup-env
	.venv/bin/python benchmarks/run.py $(BENCH_ARGS)

bench-book:      ## time a cold and a no-change `make book` in a scratch copy (minutes)
	scripts/setup-env
	.venv/bin/python benchmarks/run.py --book-only $(BENCH_ARGS)

sabotage:        ## plant the catalogued bugs in lib, one per run (CHAPTER=NN-name for one chapter)
	scripts/setup-env
	.venv/bin/python tests/sabotage/harness.py $(CHAPTER)

mutation:        ## mutation-test lib with mutmut, a report (MODULE=taylor for one module)
	scripts/mutation

format:          ## format the chapters' code cells with ruff (a development tool)
	scripts/format-chapters

clean:
	rm -rf _build
