# The two commands in README.md: `make run` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup run test ask clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, so nothing else can pull a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

# With DISCORD_TOKEN (environment or .env) this runs the bot; without, it answers from the console.
run: setup
	@if [ -n "$$DISCORD_TOKEN" ] || grep -qsE '^DISCORD_TOKEN=.+' .env; then \
		$(BIN)/negotiations-bot run; \
	else \
		echo "No DISCORD_TOKEN set (see .env.example): answering from the console. Type a question, Ctrl-D to quit."; \
		$(BIN)/negotiations-bot ask -; \
	fi

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
