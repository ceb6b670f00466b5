# Two commands set up and run everything on a fresh Debian machine (root, or sudo available):
#   make demo   - installs what it needs, then runs the main job (tools/main_job.py): the paper in miniature on the CPU
#   make demo-long - the same with a critic twice as deep as the policy that reads both images before it compares,
#                    trained on in-family pairs and on the base's own labelled answers (~2 h 10 min on 2 cores);
#                    each report shows the other run's verdicts and curves once both have run
#   make test   - installs what it needs, then runs the test suite (CPU only; `-m slow` / `-m gpu` opt in)
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
TORCH_VERSION ?= 2.13.0
STAMP := .install.stamp
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: install demo demo-long test lint bench gpu-check

$(STAMP): pyproject.toml
	@dpkg -s chromium fonts-dejavu-core >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core; }
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -e ".[dev,qlora]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PYTHON) tools/main_job.py --compare runs/long

demo-long: $(STAMP)
	$(PYTHON) tools/main_job.py --root runs/long --kinds grid_edit --pairs 4800 --answer-references 1600 \
		--critic-steps 4000 --critic-transcribes --critic-size small_deep --grpo-steps 30 --exact-seeds 1 --compare runs/main

test: $(STAMP)
	$(PYTHON) -m pytest -q -m "not slow and not gpu"

lint: $(STAMP)
	$(PYTHON) -m ruff check src tests tools benchmarks
	$(PYTHON) -m ruff format --check src tests tools benchmarks
	$(PYTHON) -m mypy src
	lint-imports

bench: $(STAMP)
	$(PYTHON) benchmarks/render_throughput.py

# One GPU, <= 8 minutes, nothing installed or downloaded (hence no $(STAMP)): every GPU-only figure into
# runs/gpu_check/gpu_check.{json,md}; without CUDA the same parts run on the tiny shape in seconds.
gpu-check:
	$(PYTHON) -m benchmarks.gpu_check --out runs/gpu_check
