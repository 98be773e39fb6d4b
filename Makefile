# The course's commands. Each creates .venv when missing and installs what it needs into it.
# Every recipe is one `python -m ...` command; the README lists them for machines without make.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# what `make setup` installs: the extras of notebooks 01-05 and 07 (06's setup cell adds `real`)
EXTRAS ?= ltd,course,imagenet,test
OUT ?= outputs
# the Python of the GPU machine that runs benchmarks/gpu_acceptance.py (make gpu-wheels)
GPU_PYTHON ?= 3.12
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: setup setup-real course test test-all site slides confirm gpu-wheels wheelhouse clean

# A room without internet: WHEELS=<folder> installs from a wheelhouse (make wheelhouse) with the
# package index switched off. TORCH=cpu takes torch and torchvision from PyTorch's CPU-only index
# first (Linux laptops: a far smaller .venv than PyPI's CUDA build).
WHEELS ?=
TORCH ?=
PLATFORM ?= linux-x86_64
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
PIP_FROM := $(if $(WHEELS),--no-index --find-links $(WHEELS),)

# one stamp per set of extras, e.g. .venv/.installed-dev
$(VENV)/.installed-%: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(WHEELS),,$(BIN)/python -m pip install --quiet --upgrade pip)
	$(if $(filter cpu,$(TORCH)),$(BIN)/python -m pip install --quiet -c constraints.txt --index-url $(TORCH_CPU_INDEX) torch torchvision)
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -c constraints.txt -e '.[$*]'
	touch $@

setup: $(VENV)/.installed-$(EXTRAS)  ## the course on a laptop: notebooks 01-05 and 07

setup-real: $(VENV)/.installed-dev  ## everything: real data and models, SLURM, tests, the website

course: setup  ## execute every notebook with its defaults into $(OUT)/
	$(BIN)/python -m svl_lib.course --out $(OUT)

# The quick loop runs on two workers with one thread each (benchmarks/bench_test_loop.py measures
# it against one process). The full suite runs in two steps, each on two such workers: the unit and
# training tests, then the notebooks (nbval's cells are marked `notebook`; `--dist loadgroup` sends a
# notebook's tests and cells to one worker, tests/conftest.py, so the cells reuse the run folders its
# tests trained). It leaves out the `smoke` tests: the FAST notebooks run from outside the checkout
# instead (tests/test_colab_install.py).
test: setup-real  ## the quick loop: unit tests and every notebook with FAST = True
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow and not notebook and not site" tests

test-all: setup-real  ## everything else: trainings, notebook defaults and exercises, nbval, the website
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m "not smoke and not notebook and not site" tests
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup --nbval-lax -m "notebook or site" tests notebooks

site: $(VENV)/.installed-site  ## render the README, the glossary, the workshop plan, the executed notebooks and the slides into docs/_build/html
	$(BIN)/python -m sphinx -b html -c docs -d docs/_build/doctrees -W --keep-going -q . docs/_build/html

# The workshop's slide decks (docs/slides/*.ipynb, Jupyter's slide format) as reveal.js pages, where
# the site links to them; `make site` writes them too. reveal.js comes from nbconvert's CDN default.
slides: $(VENV)/.installed-site  ## the workshop's slides into docs/_build/html/slides (nbconvert --to slides)
	$(BIN)/python -m svl_lib.course.slides --out docs/_build/html/slides

# The confirmatory replication of notebook 07's verdicts: every grid a protocol reads
# (svl_lib/resources/protocols.json), on the fresh seeds 5-9, each CSV stamped with its protocol.
# One thread per training (the committed results were made so, two grids at a time: a thread count
# changes the last digits). About two hours on two CPU cores; run it in the background, never in CI.
CONFIRM_GRIDS ?= claims_scratch claims_finetune claims_image_tower control_scratch_matched control_shortcut_start \
	control_image_tower_matched claims_bits trial_paper_ltd trial_ltd_length trial_memorisation
confirm: setup  ## the confirmatory runs (seeds 5-9) into runs/confirmatory/, results into grid_results/confirmatory/
	for grid in $(CONFIRM_GRIDS); do \
	  OMP_NUM_THREADS=1 $(BIN)/python -m svl_lib.experiments.sweep --grid-file $$grid --stage confirmatory --out runs/confirmatory/$$grid \
	    --csv svl_lib/resources/grid_results/confirmatory/$$grid.csv || exit 1; done

# The GPU acceptance run on a GPU machine without network: its Python lacks open_clip_torch, ftfy,
# wcwidth and mlxtend, so their wheels (constraints.txt's versions, for Python $(GPU_PYTHON) on Linux
# x86-64) are gathered here into the git-ignored .wheels/; benchmarks/gpu_acceptance.py says how to
# install them there. Needs only pip, not the course's packages.
gpu-wheels:  ## on a machine with network: the GPU acceptance run's wheels into .wheels/ (GPU_PYTHON=3.12)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m svl_lib.course.gpu_wheels --python-version $(GPU_PYTHON)

# The room install: every wheel `make setup` installs, for PLATFORM (linux-x86_64, linux-x86_64-cpu,
# macos-arm64, windows-x86_64) and the laptops' Python (LAPTOP_PYTHON), into wheelhouse/PLATFORM/
# for a USB stick or the room's network; then on each laptop: make setup WHEELS=<that folder>.
LAPTOP_PYTHON ?= 3.11.7
wheelhouse:  ## on a machine with network: the course's wheels for PLATFORM into wheelhouse/ (then make setup WHEELS=...)
	$(PYTHON) -m svl_lib.course.wheelhouse --platform $(PLATFORM) --python-version $(LAPTOP_PYTHON)

clean:  ## remove what make course and make site wrote
	rm -rf $(OUT) docs/_build .pytest_cache
