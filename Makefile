# Two commands on a fresh clone: `make reproduce` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
DEVICE ?= auto

# train-ddp: one process per visible GPU (2 on a machine without one); more than the GPUs is refused.
NPROC ?= $(shell $(PY) -c "from sednn.distributed import default_process_count as n; print(n('$(DEVICE)'))")

.PHONY: venv reproduce check-data figures readme resolution test lab bench train-ddp clean-runs

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
	$(PY) -m sednn.runner --profile $(PROFILE) --device $(DEVICE) $(if $(MANIFEST),--manifest "$(MANIFEST)")

# Reads your manifest, its vocabularies, every photo and map as a run would; names the first problem.
check-data: venv
	@test -n "$(MANIFEST)" || { echo "usage: make check-data MANIFEST=path/to/manifest.csv"; exit 2; }
	$(PY) -m sednn.data "$(MANIFEST)"

# Same as reproduce: every figure is rebuilt from code by the notebooks.
figures: reproduce

# The main table across resolutions and the per-label figure, from results/ and results/cpu_hr/
# (the runner does it after every run).
resolution: venv
	$(PY) -m sednn.resolution

# README and docs/ result blocks from results/ (the runner does this after every run; `--check` only compares).
readme: venv
	$(PY) -m sednn.readme

test: venv
	$(PY) -m pytest

# Images/s and peak memory per model, ratios to the baseline -> results/bench.csv;
# torch.profiler operator shares of a training step -> results/bench_ops.csv
bench: venv
	$(PY) -m sednn.bench --profile $(PROFILE) --device $(DEVICE)

# Every classifier of the profile (tuning grid and seeds) with DistributedDataParallel, one process per GPU
# (after notebooks 01-02);
# `make reproduce` afterwards finds the checkpoints and only predicts and reports.
train-ddp: venv
	$(PY) -c "from sednn.distributed import check_process_count as c; c($(NPROC), '$(DEVICE)')"
	$(VENV)/bin/torchrun --standalone --nproc-per-node $(NPROC) -m sednn.launch --profile $(PROFILE) --device $(DEVICE) \
		$(if $(MANIFEST),--manifest "$(MANIFEST)")

# JupyterLab on the repository root, opened on notebooks/ (the rendered runs are in results/notebooks/).
lab: venv
	$(PY) -m sednn.lab

clean-runs:
	rm -rf runs
