# make app: start alviz on the bundled sample.  make test: run every test.  Both create .venv when missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: app test lint bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

app: $(STAMP)
	$(VENV)/bin/alviz app

test: $(STAMP)
	$(VENV)/bin/ruff check alviz views app.py tests benchmarks scripts
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/interaction.py

clean:
	rm -rf $(VENV) .pytest_cache
