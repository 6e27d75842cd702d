# Two commands do everything on a fresh machine: `make local` and `make test`.
# Both depend on the install stamp, so `make setup` runs by itself when needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9

# What every process of the stack needs (pipeline/cli.py: STACK_ENVIRONMENT says why; a test
# keeps these equal to it). TFX 1.16 runs on tf-keras: every process, Beam workers included.
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONWARNINGS := ignore:You are using a non-supported Python version:FutureWarning,ignore:Support for google-cloud-storage:FutureWarning
# Python comes from the machine, never from a download.
export UV_PYTHON_DOWNLOADS := never
# uv writes the stack's .pyc files once, at install. Where PYTHONDONTWRITEBYTECODE is set (this
# machine, the pipeline image) Python would otherwise compile TensorFlow, TFX, Beam and TFMA from
# source in every process: 25 s of imports instead of 9 s, measured here.
export UV_COMPILE_BYTECODE := 1

# TFX 1.16 needs Python 3.10: take python3.10 from PATH, else pyenv's. A virtual environment's
# python (this one's, when it is activated) gives the interpreter it was made from: a venv
# rebuilt on its own python would point at itself.
ifndef PYTHON310
PYTHON310 := $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import os, sys; assert sys.version_info[:2] == (3, 10); base = os.path.join(sys.base_prefix, "bin", "python3.10"); print(base if os.path.exists(base) else sys.executable)' 2>/dev/null && break; done)
endif
# Recipes read what a user gives (paths, names, a reason) from the environment, quoted, as data:
# `make rollback REASON='$$(cmd)'` must not run cmd. Make exports command-line variables; these
# have values of their own here, so they are exported too.
export PYTHON310

DEMO_DATA := data/demo
DEMO_STAMP := $(DEMO_DATA)/.complete

.PHONY: help setup local kubeflow-local compile image deploy schedule unschedule models rollback predict tensorboard pretrain ablation bench bench-memory bench-gpu quality backbone-sources settings-doc test test-fast lint format lock demo-data clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv (Python 3.10) with the pinned stack.

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml requirements.lock | $(UV)
	@test -n "$$PYTHON310" || { echo "error: Python 3.10 not found (TFX 1.16 needs it): install it or pass PYTHON310=/path/to/python3.10"; exit 1; }
	$(UV) venv --allow-existing --python "$$PYTHON310" $(VENV)
	$(UV) pip sync --python $(PY) requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	touch $@

lock: | $(UV) ## Re-resolve requirements.lock (and the image's GPU wheels) from pyproject.toml.
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.10 --python-platform x86_64-manylinux_2_28 -o requirements.lock --quiet
	{ head -2 deploy/requirements-gpu.lock; echo "tensorflow[and-cuda]==$$(sed -n 's/^tensorflow==//p' requirements.lock)" \
	  | $(UV) pip compile - -c requirements.lock --python-version 3.10 --python-platform x86_64-manylinux_2_28 --quiet --no-header \
	  | grep '^nvidia-'; } > deploy/requirements-gpu.lock.new && mv deploy/requirements-gpu.lock.new deploy/requirements-gpu.lock

$(DEMO_STAMP): $(STAMP) pipeline/demo_data.py
	$(PY) -m pipeline.demo_data --out $(DEMO_DATA)

demo-data: $(DEMO_STAMP) ## Generate the bundled demo dataset (deterministic).

# Returns at once when the weights file for BACKBONE (and BACKBONE_ALPHA) already exists.
pretrain: $(STAMP) ## Pretrain the backbone on generated source shapes (once; minutes, cached).
	$(PY) -m pipeline.pretrain

export ABLATION_SEEDS ?= 1,2
# SIZES (images per data set, comma-separated) and REPEATS (runs per size, medians reported).
bench: $(STAMP) ## Pipeline vs plain TensorFlow, by data size: bench/results.json, docs/benchmarks.md.
	$(PY) -m bench.speed $${SIZES:+--sizes "$$SIZES"} $${REPEATS:+--repeats "$$REPEATS"}

# SIZES (images per data set) and CACHE_BUDGET_GB (the Trainer's cache budget in every run).
bench-memory: $(STAMP) ## A run's peak memory as the data outgrows the Trainer's cache: bench/memory.json, docs/benchmarks-memory.md.
	$(PY) -m bench.memory $${SIZES:+--sizes "$$SIZES"} $${CACHE_BUDGET_GB:+--cache-budget-gb "$$CACHE_BUDGET_GB"}

# SIZE (demo images, default 8,000). Refuses to start without a GPU; meant to take under 8 minutes on one.
bench-gpu: $(STAMP) ## The Trainer vs plain Keras on one GPU, float32 and mixed precision: docs/benchmarks-gpu.md.
	$(PY) -m bench.gpu $${SIZE:+--size "$$SIZE"}

# DATASETS (demo, photos, digits, many_classes), SEEDS and VARIANTS, each comma-separated.
quality: pretrain ## The pipeline against plain baselines on 4 data sets of different character: docs/quality.md.
	$(PY) -m bench.quality $${DATASETS:+--datasets "$$DATASETS"} $${SEEDS:+--seeds "$$SEEDS"} $${VARIANTS:+--variants "$$VARIANTS"}

# SOURCES (shapes, fractals, shapes_and_fractals, random), comma-separated; weights kept and reused.
backbone-sources: $(STAMP) ## Which generated pretraining source transfers to real images: docs/backbone_sources.md.
	$(PY) -m bench.backbone_sources $${SOURCES:+--sources "$$SOURCES"}

ablation: pretrain ## Scratch vs feature extraction vs fine-tuning, each regularizer removed: docs/ablation.md.
	$(PY) -m bench.ablation --seeds "$$ABLATION_SEEDS"

# DATA, IMAGE_SIZE, BACKBONE, WEIGHTS, EPOCHS, BATCH_SIZE, PIPELINE_ROOT, ... reach the runner
# through the environment (make exports command-line variables); see docs/settings.md.
local: $(STAMP) $(if $(DATA),,$(DEMO_STAMP)) $(if $(WEIGHTS),,pretrain) ## Run the whole pipeline locally (DATA=/path/to/images).
	$(PY) -m pipeline.local_runner $(if $(DATA),,--data $(DEMO_DATA))

# DATA, OUTPUTS, RUN_PARAMS, and the training settings as for compile.
kubeflow-local: $(STAMP) $(if $(DATA),,$(DEMO_STAMP)) $(if $(WEIGHTS),,pretrain) ## Compile for Kubeflow with local paths and run the spec step by step as KFP v2 would.
	$(PY) -m pipeline.kubeflow_local $(if $(DATA),,--data $(DEMO_DATA))

# IMAGE, DATA, SERVING_DIR (the cluster's), LATEST_SNAPSHOT, GPUS, TRAINER_CPU, TRAINER_MEMORY, ...
compile: $(STAMP) ## Compile for Kubeflow Pipelines v2: build/pipeline.yaml (IMAGE=... DATA=... SERVING_DIR=...).
	$(PY) -m pipeline.kubeflow_runner

# KFP_HOST (the KFP API), SERVICE_ACCOUNT, PIPELINE_ROOT and RUN_PARAMS for the runs, and what
# compile takes: IMAGE, DATA, SERVING_DIR (see docs/settings.md).
deploy: compile ## Upload build/pipeline.yaml as a new version and start a run: KFP_HOST=...
	$(PY) -m pipeline.deploy deploy

schedule: compile ## Create or update the recurring run: KFP_HOST=... CRON="0 0 3 * * *"
	$(PY) -m pipeline.deploy schedule

unschedule: $(STAMP) ## Remove the recurring run: KFP_HOST=...
	$(PY) -m pipeline.deploy unschedule

image: $(STAMP) ## Build and push the pipeline image (needs Docker): make image IMAGE=registry/name:tag
	@test -n "$$IMAGE" || { echo "error: say where to push: make image IMAGE=registry.example/image-classifier:1.0"; exit 2; }
	docker build -f deploy/Dockerfile -t "$$IMAGE" \
	  --build-arg CODE_VERSION="$$($(PY) -c 'from components.registry.provenance import code_version; print(code_version())')" .
	docker push "$$IMAGE"

models: $(STAMP) ## List pushed model versions with their metrics (OUTPUTS=... or SERVING_DIR=...).
	$(PY) -m pipeline.models list

rollback: $(STAMP) ## Serve an earlier version again: make rollback VERSION=3 [REASON="..."].
	@test -n "$$VERSION" || { echo "error: say which version: make rollback VERSION=<n> (see make models)"; exit 2; }
	$(PY) -m pipeline.models rollback "$$VERSION" --reason "$$REASON"

# FILE (a file or folder), VERSION, TOP, JSON, OUTPUTS or SERVING_DIR; see docs/settings.md.
predict: $(STAMP) ## Classify your images with a pushed model: make predict FILE=cat.jpg [VERSION=n] [JSON=true].
	$(PY) -m pipeline.predict

tensorboard: $(STAMP) ## TensorBoard on the last run's training logs (OUTPUTS=..., TENSORBOARD_PORT=6006).
	$(PY) -m pipeline.tensorboard

settings-doc: $(STAMP) ## Regenerate docs/settings.md from pipeline/settings.py.
	$(PY) -m pipeline.settings

lint: $(STAMP) ## ruff lint and format check.
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting.
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) lint ## Lint, then every test tier (unit, component, pipeline, e2e).
	$(PY) -m pytest $$PYTEST_ARGS

test-fast: $(STAMP) ## Every tier but e2e.
	$(PY) -m pytest -m "not e2e" $$PYTEST_ARGS

# Only what is rebuilt in seconds. Pushed models, the ML Metadata store and the artifacts it
# indexes, the pretrained backbone (minutes to rebuild) and any data of yours stay; the demo
# data goes only if the generator's stamp says it wrote the folder.
clean: ## Remove build/, the generated demo data and run logs; never models, metadata, the backbone or your data.
	@outputs="$${OUTPUTS:-outputs}"; \
	for path in build "$$outputs/logs" "$$outputs/last_run.json" \
	    $$(test -f $(DEMO_STAMP) && echo $(DEMO_DATA)); do \
	  if [ -e "$$path" ]; then echo "removed $$path"; rm -rf -- "$$path"; fi; \
	done; \
	echo "kept: pushed models, the pipeline's artifacts and ML Metadata (under $$outputs), the pretrained backbone, your data"
