# Two commands on a fresh clone: `make reproduce` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
DEVICE ?= auto

# train-ddp: one process per visible GPU (2 on a machine without one); more than the GPUs is refused.
NPROC ?= $(shell $(PY) -c "from sednn.training.distributed import default_process_count as n; print(n('$(DEVICE)'))")

.PHONY: venv reproduce check-data figures readme resolution test test-fast lint lab bench gpu-prep gpu-check train-ddp clean-runs

venv: $(VENV)/.installed

# torch/torchvision first and exactly pinned: pip takes them from local disk here.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e .
	touch $@

# Runs every notebook in order with papermill; tables -> results/, figures -> figures/
# (PROFILE=cpu_hr: results/cpu_hr/, figures/cpu_hr/). Resumes from the checkpoints under runs/<profile>/.
# MANIFEST=path/to/manifest.csv: your own data instead of CCP, into results/datasets/<its folder>/<profile>/.
reproduce: venv
	$(PY) -m sednn.pipeline.runner --profile $(PROFILE) --device $(DEVICE) $(if $(MANIFEST),--manifest "$(MANIFEST)")

# Reads your manifest, its vocabularies, every photo and map as a run would; names the first problem.
check-data: venv
	@test -n "$(MANIFEST)" || { echo "usage: make check-data MANIFEST=path/to/manifest.csv"; exit 2; }
	$(PY) -m sednn.data.check "$(MANIFEST)"

# Same as reproduce: every figure is rebuilt from code by the notebooks.
figures: reproduce

# The main table across resolutions and the per-label figure, from results/ and results/cpu_hr/
# (the runner does it after every run).
resolution: venv
	$(PY) -m sednn.reporting.resolution

# README and docs/ result blocks from results/ (the runner does this after every run; `--check` only compares).
readme: venv
	$(PY) -m sednn.reporting.readme

# Everything, every notebook end to end included (CI runs this), with the 15 slowest tests listed at the end.
test: venv lint
	$(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder --durations=15

# ruff (pyproject.toml: pyflakes, pycodestyle, isort, bugbear) over the library, the tests and the notebooks.
lint: venv
	$(VENV)/bin/ruff check lib tests notebooks

# The edit loop: the library without notebooks, servers, subprocess trainings or compilation (under 2 minutes).
test-fast: venv
	$(PY) -m pytest -m "not slow" -n auto -q

# On a machine with CCP and the network: what a lent GPU machine lacks, into ignored folders (.whl/, .gpu-data/).
gpu-prep: venv
	$(PY) -m sednn.pipeline.gpu_check prepare

# On the GPU machine (python3 with torch there; wheels installed as docs/speed.md shows): the CUDA tests, the
# smoke_gpu notebooks, the gpu benchmark and its projection, as much of the gpu profile as fits -> results/gpu/.
GPU_PY ?= $(PY)
gpu-check:
	PYTHONPATH=lib$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PY) -m sednn.pipeline.gpu_check run --device $(if $(filter auto,$(DEVICE)),cuda,$(DEVICE))

# Images/s and peak memory per model, ratios to the baseline -> results/bench.csv;
# torch.profiler operator shares of a training step -> results/bench_ops.csv
bench: venv
	$(PY) -m sednn.pipeline.bench --profile $(PROFILE) --device $(DEVICE)

# Every classifier of the profile (tuning grid and seeds) with DistributedDataParallel, one process per GPU
# (after notebooks 01-02);
# `make reproduce` afterwards finds the checkpoints and only predicts and reports.
train-ddp: venv
	$(PY) -c "from sednn.training.distributed import check_process_count as c; c($(NPROC), '$(DEVICE)')"
	$(VENV)/bin/torchrun --standalone --nproc-per-node $(NPROC) -m sednn.pipeline.launch --profile $(PROFILE) --device $(DEVICE) \
		$(if $(MANIFEST),--manifest "$(MANIFEST)")

# JupyterLab on the repository root, opened on notebooks/ (the rendered runs are in results/notebooks/).
lab: venv
	$(PY) -m sednn.pipeline.lab

clean-runs:
	rm -rf runs
