"""many_to_one: a sequence -> one label or value (time-series classification, forecasting, sentiment)."""

import re

import numpy as np

from zoo import files
from zoo.architecture import recurrent_stack, require_positive_int
from zoo.data import (
    EXAMPLES,
    GENERATED,
    PAD_VALUE,
    Dataset,
    DataSpec,
    Vocabulary,
    continuous_spec,
    label_ids,
    pad,
)
from zoo.errors import DataFileError, ZooError
from zoo.files.series import is_ucr_text, read_arff, read_npz, read_ts, read_ucr_text
from zoo.files.tables import read_table
from zoo.presets import Preset
from zoo.registry import Task, register
from zoo.text import tokenize_splits

# LSTM-FCN's convolutional branch (Karim et al. 2018): filters and kernel width of each block.
FCN_BLOCKS = ((128, 8), (256, 5), (128, 3))
# The batch statistics' running average: Keras' 0.99 remembers about 100 steps, and a run of 100
# epochs of 3 batches (an archive set of 50 series) ends with running variances 10-80x the convolutions'
# own (GunPoint's training series read at 0.73 accuracy after training, against 1.00 in training mode).
BATCH_NORM_MOMENTUM = 0.9
# MLSTM-FCN's squeeze-and-excite: the gate's hidden layer is the filters / 16 (Karim et al. 2019).
SQUEEZE_RATIO = 16


def build(spec, arch):
    import keras

    from zoo.layers import AttentionPooling, ChunkSteps, StridedConv1D
    from zoo.model_io import prediction_head, sequence_input

    inputs, steps = sequence_input(spec, arch.layer_units[0], name="sequence", znorm=arch.znorm)
    x = steps
    if arch.chunk and arch.front_end == "conv":
        x = StridedConv1D(arch.layer_units[0], arch.chunk, name="strided_conv")(x)
    elif arch.chunk:
        x = ChunkSteps(arch.chunk, name="chunk_steps")(x)
    x = recurrent_stack(x, arch, return_sequences=arch.readout != "last")
    if arch.readout == "mean":  # over the real steps only: the layer reads the mask
        x = keras.layers.GlobalAveragePooling1D(name="mean_over_steps")(x)
    elif arch.readout == "attention":
        x = AttentionPooling(name="attention_over_steps")(x)
    if arch.fcn:
        x = keras.layers.Concatenate(name="recurrent_and_fcn")([x, fcn_branch(steps, arch.squeeze_excite)])
    outputs = prediction_head(x, spec, "label" if spec.kind == "classification" else "value")
    return keras.Model(inputs, outputs, name="many_to_one")


def fcn_branch(steps, squeeze_excite=False):
    """Convolution, batch normalisation and ReLU blocks over every step, then the mean over the real
    steps. Padding is read by none of them: the convolutions see it as zeros ("same" padding's own),
    batch statistics and the means leave it out (the mask). With squeeze_excite, the first two blocks
    gate their filters as MLSTM-FCN does."""
    import keras

    from zoo.layers import MaskedBatchNormalization, MaskedConv1D, SqueezeExcite

    y = steps
    for block, (filters, width) in enumerate(FCN_BLOCKS, start=1):
        y = MaskedConv1D(filters, width, name=f"fcn_conv_{block}")(y)
        y = MaskedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"fcn_norm_{block}")(y)
        y = keras.layers.Activation("relu", name=f"fcn_relu_{block}")(y)
        if squeeze_excite and block < len(FCN_BLOCKS):
            y = SqueezeExcite(SQUEEZE_RATIO, name=f"fcn_squeeze_excite_{block}")(y)
    return keras.layers.GlobalAveragePooling1D(name="fcn_mean_over_steps")(y)


def _continuous(name, kind, train, val, test, max_len, labels=None, notes=None, text=None):
    """Pads three splits of (sequences, targets); sequences are arrays of shape (steps, features)."""
    (x_train, cut_train), (x_val, cut_val), (x_test, cut_test) = (
        pad(split[0], max_len, PAD_VALUE, "float32") if len(split[0]) else (None, 0)
        for split in (train, val, test)
    )
    if x_val is None:  # no validation split (zoo.files.rare_classes): no rows, the training's shape
        x_val = np.full((0, *x_train.shape[1:]), PAD_VALUE, "float32")
    num_outputs = len(labels) if labels else 1
    spec = continuous_spec(kind, num_outputs, x_train, train[1])
    return Dataset(
        name, spec, x_train, train[1], x_val, val[1], x_test, test[1],
        labels=labels, truncated=cut_train + cut_val + cut_test, notes=notes or {}, text=text,
    )


def ucr_loader(ucr_name):
    """A loader for one UCR/UEA classification archive set bundled with aeon (no download).

    The archive's own train/test split is kept; a stratified 20% of train is held out for validation.
    """

    def load(seed=0, max_len=None):
        from aeon.datasets import load_classification
        from sklearn.model_selection import train_test_split

        splits = {}
        for split in ("train", "test"):
            x, y = load_classification(ucr_name, split=split)
            # aeon gives (cases, channels, steps), as a list when lengths differ.
            splits[split] = ([np.asarray(case, dtype="float32").T for case in x], list(y))
        (x_fit, y_fit), (x_test, y_test) = splits["train"], splits["test"]
        x_train, x_val, y_train, y_val = train_test_split(
            x_fit, y_fit, test_size=0.2, stratify=y_fit, random_state=seed
        )
        labels, (y_train, y_val, y_test) = label_ids(y_train, y_val, y_test)
        return _continuous(
            _SNAKE[ucr_name], "classification", (x_train, y_train), (x_val, y_val), (x_test, y_test),
            max_len, labels=labels, notes={"source": f"UCR/UEA archive '{ucr_name}', bundled with aeon",
                                      "licence": UCR_TERMS},
        )

    return load


UCR_TERMS = ("the UCR/UEA archive's terms: free for research, cite Dau et al. 2019 (UCR) or Bagnall et "
             "al. 2018 (UEA); no licence file (aeon, which ships the files, is BSD-3-Clause)")
_UCR_SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels")
_SNAKE = {name: re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in _UCR_SETS}


def load_sunspots(seed=0, max_len=None, window=24):
    """Yearly sunspot numbers 1700-2008 (statsmodels): forecast next year's from the last `window`.

    Split in time: the last 20% of targets are the test set, the 10% before them validation.
    """
    del seed  # the split is chronological
    from statsmodels.datasets import sunspots

    series = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy("float32")
    windows = [series[i : i + window, None] for i in range(len(series) - window)]
    targets = series[window:, None]
    test_from, val_from = int(len(targets) * 0.8), int(len(targets) * 0.7)
    cut = [slice(0, val_from), slice(val_from, test_from), slice(test_from, None)]
    train, val, test = ((windows[c], targets[c]) for c in cut)
    return _continuous("sunspots", "regression", train, val, test, max_len,
                       notes={"window": window, "test_years": int(len(targets) - test_from),
                              "source": "yearly sunspot numbers 1700-2008, statsmodels",
                              "licence": "public domain (statsmodels' sunspots data set)"})


def load_adding(seed=0, max_len=None, seq_len=50, train_size=10000, eval_size=1000):
    """The adding problem (Hochreiter & Schmidhuber 1997), generated.

    Each step is (value in [0, 1), marker); the target is the sum of the two marked values,
    one marked in each half. Predicting the mean (1.0) scores an MSE of about 0.167.
    """
    if seq_len < 2:
        raise ZooError(f"seq_len must be at least 2, got {seq_len!r}.")
    rng = np.random.default_rng(seed)

    def split(count):
        values = rng.random((count, seq_len), dtype="float32")
        markers = np.zeros_like(values)
        rows = np.arange(count)
        markers[rows, rng.integers(0, seq_len // 2, count)] = 1.0
        markers[rows, rng.integers(seq_len // 2, seq_len, count)] = 1.0
        targets = (values * markers).sum(axis=1, keepdims=True)
        return list(np.stack([values, markers], axis=-1)), targets

    return _continuous(
        "adding", "regression", split(train_size), split(eval_size), split(eval_size), max_len,
        notes={"seq_len": seq_len, "licence": GENERATED},
    )


def _words(text):
    return re.findall(r"[a-z0-9']+", text.lower().replace("<br />", " "))


def load_imdb_reviews(seed=0, max_len=None, vocab_size=20000):
    """IMDB movie-review sentiment from TensorFlow Datasets (downloads on first use)."""
    import tensorflow_datasets as tfds
    from sklearn.model_selection import train_test_split

    def texts_and_labels(split):
        rows = tfds.as_numpy(tfds.load("imdb_reviews", split=split, as_supervised=True))
        texts, labels = zip(*((_words(t.decode("utf-8")), int(y)) for t, y in rows))
        return list(texts), np.array(labels, dtype="int32")

    fit_texts, fit_labels = texts_and_labels("train")
    test_texts, y_test = texts_and_labels("test")
    train_texts, val_texts, y_train, y_val = train_test_split(
        fit_texts, fit_labels, test_size=0.2, stratify=fit_labels, random_state=seed
    )
    vocab = Vocabulary.build(train_texts, max_size=vocab_size)
    (x_train, cut_train), (x_val, cut_val), (x_test, cut_test) = (
        pad([vocab.encode(t) for t in texts], max_len) for texts in (train_texts, val_texts, test_texts)
    )
    spec = DataSpec(kind="classification", num_outputs=2, input_vocab_size=len(vocab))
    return Dataset(
        "imdb_reviews", spec, x_train, y_train, x_val, y_val, x_test, y_test,
        labels=["negative", "positive"], input_vocab=vocab, truncated=cut_train + cut_val + cut_test,
    )


SERIES_READERS = {".ts": read_ts, ".arff": read_arff, ".txt": read_ucr_text, ".tsv": read_ucr_text}


def load_series_files(files_, seed=0, max_len=None):
    """UCR/UEA `.ts` / `.arff` / the archive's `.tsv` and `.txt`: one labelled series per case; missing
    splits cut stratified."""
    read = SERIES_READERS[files_.extension]
    train, validation, test = files.read_splits(files_, read)
    train, validation, test = files.split(train, validation, test, seed, labels=train[1])
    return _labelled_series(files_, train, validation, test, max_len)


def _labelled_series(files_, train, validation, test, max_len):
    labels, (y_train, y_val, y_test) = files.label_ids(train[1], validation[1], test[1], files_)
    return _continuous(files_.name, "classification", (train[0], y_train), (validation[0], y_val),
                       (test[0], y_test), max_len, labels=labels, notes={"source": str(files_.train)},
                       text={"input": None, "output": "label_name"})


def load_npz_files(files_, seed=0, max_len=None):
    """`.npz` with x ([examples, steps, features], or an object array of [steps, features] arrays)
    and y: class labels (integers or strings), or float targets (regression)."""
    train, validation, test = files.read_splits(files_, read_npz)
    regression = np.asarray(train[1]).dtype.kind == "f"
    train = (list(train[0]) if isinstance(train[0], np.ndarray) else train[0], train[1])
    if isinstance(train[0][0], np.ndarray) and train[0][0].ndim != 2:
        raise DataFileError(files_.train if files_.name != "arrays" else "x",
                            f"'x' must hold sequences [steps, features]; got examples of shape "
                            f"{list(np.shape(train[0][0]))}. Vectors are one_to_one's data.")
    train, validation, test = files.split(train, validation, test, seed,
                                          labels=None if regression else train[1])
    if not regression:
        return _labelled_series(files_, train, validation, test, max_len)
    targets = [np.asarray(split[1], dtype="float32").reshape(len(split[1]), -1)
               for split in (train, validation, test)]
    return _continuous(files_.name, "regression", (train[0], targets[0]), (validation[0], targets[1]),
                       (test[0], targets[2]), max_len, notes={"source": str(files_.train)},
                       text={"input": None, "output": None})


def load_entity_files(files_, seed=0, max_len=None, id=None, time=None, label="label"):  # noqa: A002
    """`.csv` / `.parquet`, one row per entity and time step (OPTIONS="id=... time=... label=..."):
    one labelled sequence per entity, every other column a feature (zoo.files.entities)."""
    from zoo.files.entities import read_entities

    if id is None:
        raise ZooError(f"{files_.train}: name the column that says whose row it is: "
                       "OPTIONS=\"id=<column> time=<column> label=<column>\" (one sequence per id).")

    def read(path):
        return read_entities(path, id, time, label)[:2]

    train, validation, test = files.read_splits(files_, read)
    train, validation, test = files.split(train, validation, test, seed, labels=train[1])
    return _labelled_series(files_, train, validation, test, max_len)


def load_table_files(files_, seed=0, max_len=None, text="text", label="label", vocab_size=20000,
                     target=None, window=None, horizon=1, id=None, time=None):  # noqa: A002
    """`.csv` / `.tsv` / `.jsonl`: a text column and a label column (text classification); with
    target= or window=, numeric series columns, one row per time step (forecasting); with id=, one
    labelled sequence per entity (load_entity_files). A `.tsv` without a header row, all numbers, is
    the UCR archive's own (load_series_files)."""
    if files_.extension == ".tsv" and is_ucr_text(files_.train):
        return load_series_files(files_, seed, max_len)
    if id is not None:
        return load_entity_files(files_, seed, max_len, id, time, label)
    if target is not None or window is not None:
        return _forecast(files_, target, window or 24, horizon, max_len)
    tables = files.read_splits(files_, read_table)
    columns = [None if t is None else (t.texts(text, "text"), t.texts(label, "label")) for t in tables]
    train, validation, test = files.split(columns[0], columns[1], columns[2], seed,
                                          labels=files.class_codes(columns[0][1]))
    labels, label_splits = files.label_ids(train[1], validation[1], test[1], files_)
    contract = {"input": "words", "lower_and_strip": True, "output": "label_name"}
    token_splits = tokenize_splits([split[0] for split in (train, validation, test)], contract)
    vocab = Vocabulary.from_counts(token_splits[0].counts(), max_size=vocab_size)
    (x_train, c1), (x_val, c2), (x_test, c3) = (tokens.padded(vocab, max_len) for tokens in token_splits)
    spec = DataSpec(kind="classification", num_outputs=len(labels), input_vocab_size=len(vocab))
    return Dataset(
        files_.name, spec, x_train, label_splits[0], x_val, label_splits[1], x_test, label_splits[2],
        labels=labels, input_vocab=vocab, truncated=c1 + c2 + c3, notes={"source": str(files_.train)},
        text=contract, text_examples=test[0][:EXAMPLES].to_pylist(),
    )


def _forecast(files_, target, window, horizon, max_len):
    """Windows of `window` steps of every numeric column -> `target` `horizon` steps after the window.

    Split in time, never shuffled: the last 20% of windows are the test set, the 10% before them
    validation (unless VAL_DATA / TEST_DATA give them).
    """
    require_positive_int("window", window)
    require_positive_int("horizon", horizon)
    tables = files.read_splits(files_, read_table)
    columns = tables[0].table.column_names
    if target is None:
        if len(columns) != 1:
            raise ZooError(f"{files_.train} has columns {', '.join(map(repr, columns))}: say which one to "
                           "forecast with OPTIONS=\"target=<column>\".")
        target = columns[0]
    splits = []
    for table in tables:
        if table is None:
            splits.append(None)
            continue
        series = table.numbers(columns, "series values")
        if len(series) < window + horizon:
            raise DataFileError(table.path, f"{len(series)} time steps are fewer than window + horizon "
                                f"({window} + {horizon}).")
        windows = np.lib.stride_tricks.sliding_window_view(series, window, axis=0).transpose(0, 2, 1)
        count = len(series) - window - horizon + 1
        targets = series[window + horizon - 1 :, columns.index(target)][:count, None]
        splits.append((list(windows[:count]), targets))
    train, validation, test = splits
    if test is None:
        keep = len(train[1]) - max(1, round(len(train[1]) * 0.2))
        train, test = (train[0][:keep], train[1][:keep]), (train[0][keep:], train[1][keep:])
    if validation is None:
        keep = len(train[1]) - max(1, round(len(train[1]) * 0.125))
        train, validation = (train[0][:keep], train[1][:keep]), (train[0][keep:], train[1][keep:])
    if min(len(part[1]) for part in (train, validation, test)) == 0:
        raise ZooError(f"{files_.train} gives too few windows to split in time; give more rows.")
    return _continuous(files_.name, "regression", train, validation, test, max_len,
                       notes={"source": str(files_.train), "target": target, "window": window,
                              "horizon": horizon}, text={"input": None, "output": None})


# Chosen by `make search-presets` (bench/search_presets.py), never on test data.
CROSS_VALIDATED = "5-fold cross-validation on the training and validation splits (make search-presets)"
# A UCR/UEA series read as chunks by two directions of a GRU, averaged over the real steps; every one
# of a fixed number of epochs runs, under a cosine schedule (10 held-out series cannot pick an epoch).
SERIES = {"cell": "gru", "bidirectional": True, "units": 64, "readout": "mean", "schedule": "cosine",
          "learning_rate": 3e-3, "epochs": 100, "batch_size": 16, "fcn": False, "squeeze_excite": False}
# The UCR/UEA presets are the task's defaults as each set's data sizes them, their "auto" fields pinned:
# in `make search-presets` they scored at or above every earlier candidate (the GRU alone over
# chunks), and a tie goes to the defaults, so that a preset departs from them only where validation
# says it does better.
_FCN_WHY = ("the task's defaults on this set: LSTM-FCN's convolutional branch (128, 256 and 128 filters, "
            "batch normalisation, the mean over the real steps){gates} beside two GRU directions of {units} "
            "over {read}, averaged over the real steps; 100 cosine epochs. 5-fold CV accuracy "
            "(bench/preset_search.md): {scores}.")


def _fcn_preset(dataset, units, chunk, read, scores, squeeze_excite=False):
    settings = {**SERIES, "units": units, "chunk": chunk, "fcn": True, "squeeze_excite": squeeze_excite}
    gates = ", its filters gated by squeeze-and-excite (several channels)" if squeeze_excite else ""
    return Preset(f"{dataset}_bigru", "many_to_one", dataset, settings,
                  _FCN_WHY.format(gates=gates, units=units, read=read, scores=scores), CROSS_VALIDATED)


PRESETS = (
    _fcn_preset("gun_point", 16, 10, "chunks of 10 steps (15 steps)",
                "these 0.960 ± 0.055; the GRU alone over chunks of 10 0.960 ± 0.089, of 5 0.940, "
                "of 25 0.900"),
    _fcn_preset("italy_power_demand", 64, 2, "pairs of the 24 hourly steps",
                "these 0.955; the GRU alone step by step 0.940, over chunks of 4 0.926"),
    _fcn_preset("arrow_head", 16, 16, "chunks of 16 steps (16 steps)",
                "these 0.811 ± 0.104; the GRU alone over chunks of 50 0.811 ± 0.104, of 25 0.782, "
                "of 10 0.586"),
    _fcn_preset("basic_motions", 16, 7, "chunks of 7 steps of 6 channels (15 steps)",
                "these 1.000; the GRU alone step by step 1.000, over chunks of 5 0.975, of 10 0.925",
                squeeze_excite=True),
    _fcn_preset("japanese_vowels", 64, 0, "the 7-29 steps of 12 coefficients",
                "these 0.981; the GRU alone over pairs of steps 0.970, step by step 0.959",
                squeeze_excite=True),
    Preset("sunspots_gru", "many_to_one", "sunspots",
           {"cell": "gru", "units": 16, "bidirectional": False, "readout": "last", "chunk": 0,
            "schedule": "cosine", "learning_rate": 3e-3, "epochs": 200, "batch_size": 16},
           "a small GRU (16 units) over the last 24 years: about 200 training windows do not carry "
           "more (5-fold CV RMSE: GRU 16 14.2, LSTM 16 15.3, GRU 64 16.5, bidirectional GRU 64 19.9).",
           CROSS_VALIDATED),
    Preset("adding_lstm", "many_to_one", "adding",
           {"cell": "lstm", "units": 64, "bidirectional": False, "readout": "last", "chunk": 0,
            "schedule": "constant", "epochs": 30, "batch_size": 64, "learning_rate": 3e-3, "patience": 5},
           "an LSTM: it keeps the two marked values over 50 steps (docs/pages/results.md, section 7).",
           "the adding problem's own comparison of cells (make bench-results)"),
)


TASK = register(
    Task(
        name="many_to_one",
        sequence_inputs=(0,),
        shape="sequence -> label or value",
        example="time-series classification, forecasting, sentiment",
        build=build,
        datasets={
            **{_SNAKE[name]: ucr_loader(name) for name in _UCR_SETS},
            "sunspots": load_sunspots,
            "adding": load_adding,
            "imdb_reviews": load_imdb_reviews,
        },
        default_dataset="gun_point",
        architecture_options=("readout", "chunk", "front_end", "fcn", "squeeze_excite", "znorm"),
        ensembles=True,
        augments=True,
        streams=True,
        presets=PRESETS,
        regression_datasets=("sunspots", "adding"),
        formats=(
            files.FileFormat("UCR/UEA time series (.txt, or a .tsv with no header: the archive's text, "
                             "a label then the values on each line)", (".ts", ".arff", ".txt"),
                             load_series_files),
            files.FileFormat("NumPy arrays x, y", (".npz",), load_npz_files),
            files.FileFormat("text and label columns, numeric series (OPTIONS=\"target=... window=...\"), "
                             "or a sequence per entity (OPTIONS=\"id=... time=... label=...\")",
                             (".csv", ".tsv", ".jsonl"), load_table_files),
            files.FileFormat("a sequence per entity (OPTIONS=\"id=... time=... label=...\")", (".parquet",),
                             load_entity_files),
        ),
        # For your own series (no preset): the UCR presets' recipe, with chunks sized to the data
        # (chunk="auto": the median series in at most 16 recurrent steps) and, for classes of series
        # of numbers, LSTM-FCN's convolutional branch (fcn="auto": better or equal on the validation
        # splits of all five bundled archive sets, two seeds; docs/pages/design/tasks.md), with
        # squeeze-and-excite where
        # the series have several channels (squeeze_excite="auto": JapaneseVowels' validation 1.000
        # against 0.991, BasicMotions tied). The attention readout, the strided-convolution front end
        # and z-normalisation scored lower or tied on those splits: settings, not defaults. Beside the
        # convolutional branch over series longer than 64 steps, a recurrent branch of 16 units
        # (units="auto"; zoo.architecture.AUTO_UNITS_BESIDE_FCN). Each series by its own statistics
        # where the series' scales lie orders of magnitude apart (znorm="auto":
        # zoo.architecture.AUTO_ZNORM_SPREAD; PLAID's validation 0.870 against 0.407, seed 42).
        defaults={**SERIES, "units": "auto", "chunk": "auto", "fcn": "auto", "squeeze_excite": "auto",
                  "znorm": "auto", "patience": 40},
        dataset_defaults={
            # The classic experiment: one direction, the last state, early stopping.
            "adding": {"bidirectional": False, "readout": "last", "chunk": 0, "schedule": "constant",
                       "epochs": 30, "batch_size": 64, "learning_rate": 3e-3, "patience": 5},
            "imdb_reviews": {"epochs": 10, "batch_size": 64, "learning_rate": 1e-3, "patience": 2,
                             "schedule": "constant"},
        },
    )
)
