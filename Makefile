# Two commands do all set-up on a fresh machine (see README.md):
#   make demo   creates .venv, installs everything, makes a sample clip and anonymizes it into demo/
#   make test   creates .venv, installs everything (OBS and Xvfb with apt for the OBS test), checks lint
#               and formatting (ruff) and the API's types (mypy; all configured in pyproject.toml), runs the tests
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test,obs,ray]'
	touch $(STAMP)

demo: setup
	mkdir -p demo
	$(PYTHON) scripts/make_sample.py demo/sample.mp4
	$(VENV)/bin/anonfilter -i demo/sample.mp4 -o demo/sample_anonymized.mp4 --overwrite
	@echo "wrote demo/sample_anonymized.mp4 (input: demo/sample.mp4)"

test: setup
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy
	bash scripts/install-obs-test-deps.sh
	$(PYTHON) -m pytest
