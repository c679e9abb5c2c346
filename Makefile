# Entry points; each sets up .venv/ first. See README.md.
.PHONY: book test goldens lab clean

book:            ## build the site into _build/html
	scripts/build-book

test:            ## everything CI runs: build, lib tests, golden sync, nbval
	scripts/test

goldens:         ## refresh tests/notebooks/*.ipynb (CHAPTER=01-random-angles for one)
	scripts/refresh-goldens $(CHAPTER)

lab:             ## open the chapters as notebooks in JupyterLab
	scripts/setup-env
	.venv/bin/jupyter lab --notebook-dir=book

clean:
	rm -rf _build
