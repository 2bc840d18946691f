# Every entry point of the project. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
TOOLS_STAMP := tools/node_modules/.installed
PROTO := protos/median/v1/median.proto
PY_GEN_DIR := clients/python/src
PY_GEN := $(PY_GEN_DIR)/median/v1/median_pb2.py
LANGUAGES := python go java typescript cpp rust
ARGS ?=
PYTEST_ARGS ?=
SHARDS ?= 3
PORT ?= 50051
DATA_DIR ?=

.PHONY: help
help: ## Show this list.
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-18s %s\n", $$1, $$2}'

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv with the pinned Python dependencies.

$(VENV_STAMP): requirements.txt server/pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e clients/python -e server
	touch $@

$(TOOLS_STAMP): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: generate
generate: $(PY_GEN) ## Generate the Python stubs from the proto (other languages: make clients).

$(PY_GEN): $(PROTO) $(VENV_STAMP)
	mkdir -p $(PY_GEN_DIR)/median/v1
	$(PY) -m grpc_tools.protoc -I protos \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  --python_out=$(PY_GEN_DIR) --grpc_python_out=$(PY_GEN_DIR) \
	  --mypy_out=$(PY_GEN_DIR) --mypy_grpc_out=$(PY_GEN_DIR) $(PROTO)
	touch $(PY_GEN_DIR)/median/__init__.py $(PY_GEN_DIR)/median/v1/__init__.py $(PY_GEN_DIR)/median/py.typed
	touch $@

.PHONY: serve
serve: generate ## Run the server on 127.0.0.1:50051 (flags: make serve ARGS="--port 0").
	exec $(VENV)/bin/median-server $(ARGS)

.PHONY: serve-cluster
serve-cluster: generate ## Run SHARDS servers (default 3) on ports PORT+1... behind Envoy on PORT (default 50051).
	exec $(PY) -m deploy.cluster serve --shards $(SHARDS) --port $(PORT) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) -- $(ARGS)

.PHONY: envoy-config
envoy-config: $(VENV_STAMP) ## Write deploy/envoy.yaml: Envoy with TLS on 0.0.0.0:50051 in front of 3 shards.
	$(PY) -m deploy.cluster config --host 0.0.0.0 --tls-cert /etc/median/server.pem --tls-key /etc/median/server.key > deploy/envoy.yaml

.PHONY: clients
clients: $(addprefix clients-,$(LANGUAGES)) ## Generate the stubs and build the client of every language.

.PHONY: $(addprefix clients-,$(LANGUAGES))
clients-python: generate ## Build one language's client (clients-go, clients-java, ...).
	@echo "clients/python: ready (runs from .venv)"
$(addprefix clients-,$(filter-out python,$(LANGUAGES))): clients-%: generate
	$(MAKE) -C clients/$* build

# The Debian packages the tests need: the C++ client's toolchain and libraries, and Redis for
# the benchmarks' baseline. Debian 12's own versions (the C++ client builds against them).
APT_PACKAGES := pkg-config cmake ninja-build g++ protobuf-compiler protobuf-compiler-grpc \
  libgrpc++-dev libprotobuf-dev redis-server

.PHONY: system-packages
system-packages: ## Install the missing Debian packages the tests need (apt as root, else sudo).
	@if ! command -v dpkg-query >/dev/null; then \
	  echo "system-packages: not a Debian system; install by hand: $(APT_PACKAGES)" >&2; exit 0; \
	fi; \
	missing=(); \
	for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" || \
	    missing+=("$$package"); \
	done; \
	if (( $${#missing[@]} )); then \
	  echo "installing: $${missing[*]}"; \
	  sudo_or_not=(); [[ $$(id -u) -eq 0 ]] || sudo_or_not=(sudo); \
	  "$${sudo_or_not[@]}" apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive "$${sudo_or_not[@]}" apt-get install -y -qq \
	    --no-install-recommends "$${missing[@]}"; \
	fi

.PHONY: unit-tests $(addprefix unit-,$(LANGUAGES))
unit-tests: $(addprefix unit-,$(LANGUAGES)) ## Run every language's own unit tests (unit-go, unit-java, ...).
unit-python: generate
	@echo "clients/python: its unit tests run in pytest (tests/test_python_client.py)"
$(addprefix unit-,$(filter-out python,$(LANGUAGES))): unit-%: generate
	$(MAKE) -C clients/$* test

.PHONY: test
test: ## Run every test: system packages, every client built, its unit tests, then pytest.
	$(MAKE) system-packages
	$(MAKE) generate clients
	$(MAKE) unit-tests
	$(if $(shell command -v go),$(MAKE) tools/bin/grpcurl)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: generate $(TOOLS_STAMP) ## buf lint on the proto, ruff and mypy --strict on the Python code.
	tools/node_modules/.bin/buf lint
	$(VENV)/bin/ruff check server clients/python tests bench deploy
	$(VENV)/bin/ruff format --check server clients/python tests bench deploy
	$(VENV)/bin/mypy

GRPCURL_VERSION := v1.9.4

.PHONY: grpcurl
grpcurl: tools/bin/grpcurl ## Install the pinned grpcurl into tools/bin (needs Go).

tools/bin/grpcurl:
	GOBIN=$(CURDIR)/tools/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

.PHONY: clean
clean: ## Remove everything `make` made.
	rm -rf $(VENV) tools/node_modules $(PY_GEN_DIR)/median clients/python/build tests/consumers/python/.venv
	for lang in go java typescript cpp rust; do $(MAKE) -C clients/$$lang clean; done

.PHONY: bench
bench: generate ## Run the full benchmarks (a few minutes); writes docs/benchmarks.md, its plot, docs/cluster-benchmarks.md.
	$(PY) -m bench.run
	$(PY) -m bench.cluster

.PHONY: bench-quick
bench-quick: generate ## Run the benchmarks on small budgets (under a minute); prints the table.
	$(PY) -m bench.run --quick
	$(PY) -m bench.cluster --quick
