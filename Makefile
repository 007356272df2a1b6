# One entry point for people and CI. `make demo` and `make test` work on a fresh Debian machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint mutation system-deps msg-writer help-text clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## install, then find the token in the shipped demo mailbox
	$(BIN)/inbox-finder find mbox:examples/demo.mbox

# The IMAP tests need Dovecot's IMAP server, which Debian ships in dovecot-imapd apart from
# the master (dovecot-core): checking for /usr/sbin/dovecot alone misses a dovecot-core-only
# machine, where every login fails with "access(/usr/lib/dovecot/imap) failed".
DOVECOT_IMAP ?= /usr/lib/dovecot/imap
APT_GET ?= apt-get

system-deps:  ## Dovecot for the IMAP tests (Debian/Ubuntu; uses sudo when not root)
	@if [ ! -x $(DOVECOT_IMAP) ]; then \
		echo "$(DOVECOT_IMAP) is missing: installing dovecot-imapd"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO $(APT_GET) update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q dovecot-imapd; \
	fi

# The .msg tests read files written by a real MSG writer (@tutao/oxmsg, MIT) run with Node;
# a test-only dependency, never shipped. Installed from the lock file, like pip's extras.
MSG_WRITER := tests/msgwriter/node_modules/.package-lock.json

$(MSG_WRITER): tests/msgwriter/package.json tests/msgwriter/package-lock.json
	@command -v npm >/dev/null || { \
		echo "npm is missing: installing nodejs and npm"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO $(APT_GET) update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q nodejs npm; }
	npm ci --prefix tests/msgwriter --no-audit --no-fund --loglevel=error
	touch $(MSG_WRITER)

msg-writer: $(MSG_WRITER)  ## the test-only .msg writer (Node)

test: $(STAMP) system-deps $(MSG_WRITER)  ## install everything, then run the whole test suite
	$(BIN)/pytest

# `inbox-finder --help` is answered from inbox_finder/cli/helptext.py without importing click;
# rerun after changing the top-level help, options or command list (a test says when).
help-text: $(STAMP)
	$(BIN)/python -m inbox_finder.cli.helpgen

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Mutation testing of the modules where a silent bug costs most (see TESTING.md): minutes on
# 2 cores, never part of `make test` or CI. mutmut comes from the optional `mutation` extra.
MUTATION_STAMP := $(VENV)/.mutation-installed

$(MUTATION_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)  ## mutate extract, templates, policy, engine, state; print the score
	rm -rf mutants
	$(BIN)/mutmut run > mutants.log 2>&1 || { tail -c 2000 mutants.log; exit 1; }
	$(BIN)/python tools/mutation_score.py --mutmut $(BIN)/mutmut

clean:
	rm -rf $(VENV) tests/msgwriter/node_modules build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants mutants.log
