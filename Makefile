# Two commands on a fresh machine: `make run` and `make test`.
VENV    := .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
FLASK   := $(VENV)/bin/flask --app cluster_events
PYBABEL := $(VENV)/bin/pybabel
PORT    ?= 5000
DOMAINS := messages registration mail calendar admin attendees members
CATALOG_DIR := cluster_events/translations

.PHONY: run test lint format translations messages bench bench-scale install install-dev clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Compile the message catalogs (.po -> .mo); part of every install.
translations: $(VENV)/.installed
	@for domain in $(DOMAINS); do \
	  if ls $(CATALOG_DIR)/*/LC_MESSAGES/$$domain.po >/dev/null 2>&1; then \
	    $(PYBABEL) compile --statistics -d $(CATALOG_DIR) -D $$domain || exit 1; \
	  fi; \
	done

## Extract messages from the code and update every catalog (translate the new ones afterwards).
messages: $(VENV)/.installed
	@mkdir -p build
	@for domain in $(DOMAINS); do \
	  $(PYBABEL) extract --no-location --sort-output -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k ngettext_showing:1,2 -F babel/$$domain.cfg -o build/$$domain.pot . || exit 1; \
	  if [ -f $(CATALOG_DIR)/ja/LC_MESSAGES/$$domain.po ]; then \
	    $(PYBABEL) update --no-fuzzy-matching --ignore-obsolete -D $$domain -i build/$$domain.pot -d $(CATALOG_DIR) -l ja; \
	  else \
	    $(PYBABEL) init -D $$domain -i build/$$domain.pot -d $(CATALOG_DIR) -l ja; \
	  fi; \
	done

instance/config.py:
	mkdir -p instance
	$(PYTHON) -c "import secrets; print('SECRET_KEY = %r' % secrets.token_hex(32))" > $@

run: $(VENV)/.installed translations instance/config.py
	$(FLASK) db upgrade
	$(FLASK) seed-demo-if-empty
	CLUSTER_EVENTS_LOCAL_SITE_URL=http://127.0.0.1:$(PORT) $(FLASK) run --host 127.0.0.1 --port $(PORT)

test: $(VENV)/.installed-dev translations
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Every public path against its ceiling under gunicorn (~3 min); see docs/benchmarks.md.
## Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--only feeds --write-docs".
bench: $(VENV)/.installed-dev translations
	$(PY) -m bench $(BENCH_ARGS)

## Cost as the data grow: 10,000 events and 100,000 registrations (in-process, ~1 min).
bench-scale: $(VENV)/.installed-dev translations
	$(PY) -m bench --scale $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
