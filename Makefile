# Every entry point of the project. `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON := .venv/bin/python

.PHONY: setup mar run test train evaluate score clean

setup: .venv/.installed

.venv/.installed: requirements.txt scripts/setup.sh
	scripts/setup.sh
	touch $@

mar: setup
	./build_mar.sh

run: mar
	scripts/serve.sh

test: setup
	$(PYTHON) -m pytest

train: setup
	$(PYTHON) -m training.train

evaluate: setup
	$(PYTHON) -m training.evaluate

score: setup
	$(PYTHON) -m client.score_mnist

clean:
	rm -rf model_store/*.mar logs key_file.json .pytest_cache
