# edgetrain: `make demo` runs the whole loop on the embedded stand-in; `make test` lints and runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
UV_HOME := .edgetrain/tools/uv-$(UV_VERSION)
UV := $(shell command -v uv 2>/dev/null || echo $(UV_HOME)/bin/uv)
# The venv and the bootstrapped uv first: recipes and the tests they start find both.
export PATH := $(CURDIR)/.venv/bin:$(CURDIR)/$(UV_HOME)/bin:$(PATH)
export UV_PYTHON_DOWNLOADS := never
# Byte-compile at install: with PYTHONDONTWRITEBYTECODE set (common in CI images) every dvc/edgetrain
# process would otherwise recompile its imports from source (seconds per command).
export UV_COMPILE_BYTECODE := 1
DEMO_ROWS ?= 20000

.PHONY: help install demo test lint docs pytest rehearse bench bench-train bench-serving bench-scale bench-stream bench-runner bench-deploy up down clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV_HOME)/bin/uv:
	$(PYTHON) -m venv $(UV_HOME)
	grep -q '^uv==$(UV_VERSION) ' requirements-uv.txt || { echo "requirements-uv.txt does not pin uv==$(UV_VERSION)" >&2; exit 1; }
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-uv.txt

.venv/.synced: pyproject.toml uv.lock | $(if $(shell command -v uv 2>/dev/null),,$(UV_HOME)/bin/uv)
	$(UV) sync --frozen
	.venv/bin/python -m compileall -q src
	touch $@

install: .venv/.synced ## create .venv from uv.lock (bootstraps uv if missing)

up: install ## start the Stack Hub stand-in (Azurite + strict API-version proxy) on 127.0.0.1
	edgetrain storage up

down: ## stop the stand-in
	edgetrain storage down

demo: up ## everything: stand-in, doctor, sample drops, dvc pull, dvc repro + push, metrics, package, serve, one score
	edgetrain doctor
	edgetrain storage seed --rows $(DEMO_ROWS)
	edgetrain storage pull
	dvc repro
	dvc push
	dvc metrics show
	edgetrain package
	@port=$$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	  edgetrain serve --port $$port > .edgetrain/demo-serve.log 2>&1 & pid=$$!; \
	  trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null || true' EXIT; \
	  edgetrain score-example --url http://127.0.0.1:$$port

lint: install ## ruff, mypy --strict, import layering, workflow and shell checks, the documentation site
	ruff check .
	ruff format --check .
	mypy
	lint-imports
	shellcheck .ci/run deploy/edge-runner/bootstrap.sh deploy/rollout/release-deploy.sh
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	check-jsonschema --schemafile deploy/arc/values.schema.json deploy/arc/values.yaml
	zizmor --offline --persona auditor .github/workflows/
	$(MAKE) --no-print-directory docs

docs: install ## build the documentation site into site/ (fails on a broken link, anchor or unlisted page)
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet

pytest: install
	edgetrain storage install
	pytest

rehearse: install ## run the GitHub workflows offline with act against loopback stand-ins (tests/workflows)
	edgetrain storage install
	pytest tests/workflows

test: lint pytest ## lint and every test (unit, strict stand-in integration, end-to-end)

# Every bench writes its own section of bench/results.md (others' sections are kept); the smoke size of
# each runs in `make test` (tests/bench). Figures from a shared machine: see docs/benchmarks.md.
bench: bench-train bench-stream bench-scale bench-serving bench-runner bench-deploy ## all benchmarks -> bench/results.md (after make demo)

bench-train: install ## train stage vs bare xgboost.train, dvc pull vs direct download, no-op repro (1M rows)
	edgetrain storage install
	python bench/train_and_pull.py $(BENCH_TRAIN_ARGS)

bench-serving: install ## edgetrain vs azureml-inference-server-http vs MLServer, and the in-process floors
	python bench/serving/run.py $(BENCH_SERVING_ARGS)

bench-scale: install ## external memory vs in-memory, Dask vs one process, dvc pull vs direct at >= 1 GB
	edgetrain storage install
	python bench/scale.py $(BENCH_SCALE_ARGS)

bench-stream: install ## streamed prepare/evaluate vs in memory: peak RSS and wall time (2M rows)
	python bench/stream.py $(BENCH_STREAM_ARGS)

# Root and bubblewrap (the runner host drops each job to its own uid): without them every row is `missing`.
bench-runner: install ## edge runner's per-job sandbox: uv sync cold / warm read-only / old shared cache (root)
	python bench/runner_cost.py $(BENCH_RUNNER_ARGS)

# buildah, skopeo, docker-registry, systemd-socket-activate; the base stand-in is built once (mmdebstrap).
bench-deploy: install ## edgetrain deploy to an edge host: first deploy, upgrade, latency through its front
	python bench/deploy_latency.py $(BENCH_DEPLOY_ARGS)

clean: down ## stop the stand-in and remove generated files (keeps .venv)
	rm -rf .edgetrain/standin artifacts/prepared artifacts/model build bench/.work site
