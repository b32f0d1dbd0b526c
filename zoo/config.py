"""TrainConfig: every setting of a run, defined once.

Each field's type, default and help (its metadata) give the `rnn-zoo train` and `tune` flags, the
Makefile's variables (the name in capitals, `rnn-zoo settings`) and the names a preset may set.
Light on purpose: the CLI reads it without loading TensorFlow, which only the methods that check
a config against its task import.
"""

import ast
import math
from dataclasses import dataclass, field, replace

SCHEDULES = ("constant", "cosine")
# What a run takes where neither the config, the data set nor the task says (the architecture's
# come from zoo.architecture.Architecture).
TRAINING_DEFAULTS = {"schedule": "constant", "clipnorm": 0, "ensemble": 1, "augment": "", "beam": 1}
# The settings a search varies (tuning.hypermodels); `rnn-zoo tune` fixes the ones given.
SEARCHABLE = ("cell", "bidirectional", "layers", "units", "dropout", "learning_rate", "readout", "front_end",
              "fcn", "squeeze_excite", "attention")


# How a setting's text (a flag's or a make variable's) is read; each raises ValueError on bad text.
def parse_switch(text):
    """1/true/yes/on or 0/false/no/off; a true/false setting's flags are --NAME and --no-NAME."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1 or 0, got {text!r}")


def parse_units(text):
    if text == "auto":
        return text
    sizes = [int(size) for size in text.split(",")]
    return sizes[0] if len(sizes) == 1 else sizes


def parse_chunk(text):
    return text if text == "auto" else int(text)


def parse_auto_switch(text):
    return text if text == "auto" else parse_switch(text)


def parse_options(text):
    """KEY=VALUE pairs, space-separated; each value read as a Python literal when it is one."""
    pairs = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {word!r}")
        try:
            pairs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pairs[key] = value
    return pairs


def parse_ensemble(text):
    """N (members of the run's architecture), or members separated by ';', each the architecture
    settings in which it differs from the run's: "cell=lstm; cell=gru readout=attention". Each value is
    read by its setting's own parser; resolved() checks the names against the architecture."""
    if "=" not in text:
        return int(text)
    parsers = {f.name: f.metadata["parse"] for f in TrainConfig.__dataclass_fields__.values()}
    members = []
    for part in text.split(";"):
        member = {}
        for word in part.split():
            key, sep, value = word.partition("=")
            if not sep or key not in parsers:
                raise ValueError(f"expected SETTING=VALUE for each member, got {word!r}")
            member[key] = parsers[key](value)
        members.append(member)
    return members


def _parse_augment(text):
    from zoo.augment import parse_augment  # Keras, imported only when AUGMENT is given

    return parse_augment(text)


def setting(help, parse=str, flag=None, **default):  # noqa: A002  (argparse's word)
    """A TrainConfig field, None unless `default` says otherwise: `help` says what it does, `parse`
    reads its text, `flag` names its flag where that is not the field's name."""
    return field(**(default or {"default": None}), metadata={"help": help, "parse": parse, "flag": flag})


def flag_name(field_):
    """--batch-size for batch_size."""
    return "--" + (field_.metadata["flag"] or field_.name).replace("_", "-")


def _architecture_defaults():
    """Architecture's defaults, units as a list (as config.json gives them back)."""
    from zoo.architecture import DEFAULTS

    return {name: list(value) if isinstance(value, tuple) else value for name, value in DEFAULTS.items()}


def spread_ratio(x):
    """How far apart the training series' scales are: the 90th over the 10th percentile of each series'
    spread (its standard deviation over its real steps, the mean over its channels), of right-padded
    series [examples, steps, features]. 1 where every series is z-normalised already (the archive's
    univariate sets); PLAID's currents, from appliances of every size, differ 125,000x."""
    import numpy as np

    from zoo.batching import lengths

    spreads = np.array([row[:n].std(axis=0).mean() for row, n in zip(x, lengths(x)) if n])
    low, high = np.percentile(spreads, [10, 90])
    return float(high / max(low, 1e-12))


def typical_length(x):
    """The median real length of right-padded sequences [examples, steps, features]; a vector's
    features [examples, features]."""
    if x.ndim == 2:
        return x.shape[1]
    import numpy as np

    from zoo.batching import lengths

    return int(np.median(lengths(x)))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run; saved as config.json so the run can be rebuilt.

    None: not given; the data set's default, else the task's (Task.training_defaults), else
    Architecture's or TRAINING_DEFAULTS.
    """

    task: str = field(metadata={"help": "the task (or --preset)", "parse": str, "flag": None})
    # The zoo.presets entry these settings came from, for the record.
    preset: str | None = setting("a preset's architecture and settings (rnn-zoo presets); any setting "
                                 "given beside it wins, and --data trains it on your file")
    dataset: str | None = setting("default: the task's default data set (with --data: a name for the run, "
                                  "default the file's)")
    # The user's own files (zoo.files).
    data: str | None = setting("your own data: a file, or a folder with train.* and optionally "
                               "validation.* (or dev.*) and test.*; the format follows the extension")
    val_data: str | None = setting("the validation file (default: cut from the training file)")
    test_data: str | None = setting("the test file (default: cut from the training file)")
    # The architecture (zoo.architecture.Architecture).
    cell: str | None = setting("simple_rnn, lstm or gru (default lstm)")
    bidirectional: bool | None = setting("read each sequence both ways (default: one way)", parse_switch)
    layers: int | None = setting("stacked recurrent layers (default 1)", int)
    units: int | list | str | None = setting("hidden size of every layer (default 64), or of each layer "
                                             "(128,64); auto: 16 beside a convolutional branch over long "
                                             "series, else 64", parse_units)
    dropout: float | None = setting("dropout on each recurrent layer's inputs (default 0; tagging 0.25)",
                                    float)
    readout: str | None = setting("many_to_one: last (the last real step), mean (over the real steps) or "
                                  "attention (a learnt weighting of the real steps)")
    chunk: int | str | None = setting("steps (or a vector's features) one recurrent step reads; auto: "
                                      "at most 16 recurrent steps for the median training sequence",
                                      parse_chunk)
    front_end: str | None = setting("many_to_one with chunk: chunk (steps side by side) or conv (a learnt "
                                    "strided convolution over them)")
    fcn: bool | str | None = setting("many_to_one: a fully convolutional branch beside the recurrent one "
                                     "(LSTM-FCN, GRU-FCN), 1 or 0; auto: on for series of numbers with "
                                     "classes", parse_auto_switch)
    squeeze_excite: bool | str | None = setting("many_to_one with fcn: squeeze-and-excite gates on the "
                                                "convolutions' filters (MLSTM-FCN), 1 or 0; auto: on for "
                                                "series of several channels", parse_auto_switch)
    znorm: bool | str | None = setting("many_to_one: each series standardised by its own mean and spread "
                                       "per channel (z-normalisation), 1 or 0, in place of the training "
                                       "data's statistics; auto: on where the training series' spreads "
                                       "differ by three orders of magnitude", parse_auto_switch)
    characters: int | None = setting("tagging: filters of a convolution over each word's characters beside "
                                     "its embedding, so unseen words are tagged by their spelling (0: the "
                                     "word ids only)", int)
    attention: str | None = setting("seq2seq: how each decoder step reads the encoder's steps beside its "
                                    "final states: none, dot or general (Luong), additive (Bahdanau)")
    ensemble: int | list | None = setting("train N members from their own initial weights, side by side, or "
                                          "listed members, each the architecture settings it changes "
                                          "(\"cell=lstm; cell=gru readout=attention\"); the run and its "
                                          "exports answer their mean (default 1: one model)", parse_ensemble)
    # Training.
    epochs: int | None = setting("at most this many; early stopping may end sooner", int)
    batch_size: int | None = setting("examples per batch", int)
    learning_rate: float | None = setting("Adam's (starting) learning rate", float)
    patience: int | None = setting("epochs without a better validation loss before early stopping", int)
    # "constant": Adam at learning_rate, early stopping on the validation loss (patience), the best
    # epoch's weights kept. "cosine": the rate decays to 0 over every epoch, which all run; the last
    # epoch's weights are kept (a validation split of 10 series is too small to pick an epoch by).
    schedule: str | None = setting("constant (early stopping, best epoch kept) or cosine (every epoch runs, "
                                   "the rate decays to 0)")
    augment: str | None = setting("many_to_one: training series changed at random, comma-separated: jitter, "
                                  "scaling, slicing (zoo.augment; none by default)", _parse_augment)
    clipnorm: float | None = setting("clip each update's gradient norm to this (0: not clipped)", float)
    beam: int | None = setting("one_to_many and seq2seq: also score the test split by beam search of "
                               "this width (GNMT's length penalty 0.6) beside greedy decoding (1: greedy "
                               "only)", int)
    # Length bucketing (zoo.batching) and XLA (zoo.xla): None, chosen per run.
    bucketing: bool | None = setting("batches of similar lengths, each padded to its own longest row "
                                     "(default: on where the lengths vary)", parse_switch)
    jit_compile: bool | None = setting("XLA-compiled training steps (default: where make bench-train "
                                       "measured them faster, and batches keep one shape)", parse_switch)
    seed: int = setting("default 42", int, default=42)
    max_len: int | None = setting("cut longer sequences (the run says how many)", int)
    limit: int | None = setting("keep only the first N examples of each split", int)
    options: dict = setting("a data set option, e.g. seq_len=200 for the adding problem",
                            parse_options, "option", default_factory=dict)

    def __post_init__(self):
        from zoo.registry import get_task

        if isinstance(self.units, tuple):  # kept as a list, as config.json gives it back
            object.__setattr__(self, "units", list(self.units))
        get_task(self.task)
        self.architecture  # noqa: B018  (builds it to check cell and sizes before any data loads)

    @property
    def architecture(self):
        """The Architecture these settings give (Architecture's defaults for the ones left out);
        chunk="auto" is checked here as one chunk, and sized by architecture_for."""
        from zoo.architecture import AUTO_UNITS, Architecture
        from zoo.errors import ZooError
        from zoo.registry import get_task

        given = {name: getattr(self, name) for name in _architecture_defaults()
                 if getattr(self, name) is not None}
        task = get_task(self.task)
        for name, unset in (("chunk", 0), ("fcn", False), ("squeeze_excite", False), ("znorm", False)):
            if given.get(name) == "auto":
                if name not in task.architecture_options:
                    raise ZooError(f"Task {task.name!r} takes no {name} (got 'auto').")
                given[name] = unset
        if given.get("units") == "auto":  # checked as the usual size, sized by architecture_for
            given["units"] = AUTO_UNITS
        return Architecture(**given).check_for(task)

    def architecture_for(self, data):
        """The Architecture for `data`: chunk="auto" sized to the median length of its training
        sequences (a vector: its features), fcn="auto" on for series of numbers with classes,
        squeeze_excite="auto" on with it where the series have several channels, and units="auto"
        AUTO_UNITS_BESIDE_FCN beside that branch where the median series is longer than LONG_SERIES
        steps (AUTO_UNITS otherwise), and znorm="auto" on where the series' own spreads differ by more
        than AUTO_ZNORM_SPREAD (spread_ratio).
        The median, not the longest: in a set of 100 to 1,344 steps, chunks sized to the longest
        read a typical series of 325 in 4 or 5 recurrent steps."""
        from zoo.architecture import (
            AUTO_UNITS,
            AUTO_UNITS_BESIDE_FCN,
            AUTO_ZNORM_SPREAD,
            LONG_SERIES,
            auto_chunk,
        )

        architecture = self.architecture
        tokens = data.spec.input_vocab_size is not None  # words or characters are read one by one
        if self.chunk == "auto":
            chunk = 0 if tokens else auto_chunk(typical_length(data.x_train))
            architecture = replace(architecture, chunk=chunk)
        if self.fcn == "auto":
            architecture = replace(architecture, fcn=not tokens and data.spec.kind == "classification")
        if self.squeeze_excite == "auto":
            several = architecture.fcn and data.spec.num_features > 1
            architecture = replace(architecture, squeeze_excite=several)
        if self.znorm == "auto":
            series = not tokens and data.x_train.ndim == 3
            scattered = series and spread_ratio(data.x_train) > AUTO_ZNORM_SPREAD
            architecture = replace(architecture, znorm=scattered)
        if self.units == "auto":
            long_series = not tokens and typical_length(data.x_train) > LONG_SERIES
            units = AUTO_UNITS_BESIDE_FCN if architecture.fcn and long_series else AUTO_UNITS
            architecture = replace(architecture, units=units)
        return architecture

    @property
    def members(self):
        """The ensemble's members (one for a single model), each as the settings it changes."""
        return [dict(member) for member in self.ensemble] if isinstance(self.ensemble, list) \
            else [{} for _ in range(self.ensemble or 1)]

    def member_config(self, k):
        """The config of member k (from 0): the run's with the member's settings, one model."""
        return replace(self, **self.members[k], ensemble=1)

    def check_members(self, task):
        """Listed members set architecture settings only, each a valid architecture for the task."""
        from zoo.architecture import OPTIONAL_FIELDS
        from zoo.errors import ZooError

        if not self.ensemble:
            raise ZooError("ensemble lists no member; give N or members separated by ';'.")
        allowed = [name for name in _architecture_defaults()
                   if name not in OPTIONAL_FIELDS or name in task.architecture_options]
        for k, member in enumerate(self.ensemble, start=1):
            for name in member:
                if name not in allowed:
                    raise ZooError(f"ensemble member {k} sets {name!r}: members differ in architecture "
                                   f"settings only; {task.name} takes {', '.join(allowed)}.")
            self.member_config(k - 1)  # its __post_init__ checks the member's architecture for the task

    def resolved(self):
        """The config with the data set and training settings the user left out filled in."""
        from zoo.architecture import require_positive_int
        from zoo.errors import ZooError
        from zoo.registry import get_task, list_tasks

        task = get_task(self.task)
        if self.data is not None:
            from zoo import files

            named = files.resolve(self.data, self.val_data, self.test_data)
            dataset, defaults = self.dataset or named.name, task.defaults
        else:
            dataset = task.check_dataset(self.dataset or task.default_dataset)
            defaults = task.training_defaults(dataset)
        architecture = _architecture_defaults()
        defaults = {**architecture, **TRAINING_DEFAULTS, **defaults}
        filled = {name: defaults[name] if getattr(self, name) is None else getattr(self, name)
                  for name in (*architecture, "epochs", "batch_size", "learning_rate", "patience",
                               "schedule", "clipnorm", "ensemble", "augment", "beam")}
        config = replace(self, dataset=dataset, **filled)
        for name in ("epochs", "batch_size", "patience", "beam"):
            require_positive_int(name, getattr(config, name))
        if config.beam > 1 and not task.generates:
            raise ZooError(f"Task {task.name!r} generates nothing to search (BEAM={config.beam}); the tasks "
                           f"that do: {', '.join(n for n in list_tasks() if get_task(n).generates)}.")
        for name in ("max_len", "limit"):
            if getattr(config, name) is not None:
                require_positive_int(name, getattr(config, name))
        if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
            raise ZooError(f"seed must be a non-negative integer, got {config.seed!r}.")
        for name in ("learning_rate", "clipnorm"):
            value = getattr(config, name)
            if not (value == 0 and name == "clipnorm" or isinstance(value, int | float)
                    and not isinstance(value, bool) and math.isfinite(value) and value > 0):
                raise ZooError(f"{name} must be a positive finite number, got {value!r}.")
        for name in ("bucketing", "jit_compile"):
            value = getattr(config, name)
            if value not in (None, True, False):
                raise ZooError(f"{name} must be true, false or left out (auto), got {value!r}.")
        if config.ensemble != 1 and not task.ensembles:
            raise ZooError(f"Task {task.name!r} cannot average an ensemble (ENSEMBLE={config.ensemble}): "
                           "it generates, answers per step or trains on windows of its own; the "
                           f"tasks that can: {', '.join(n for n in list_tasks() if get_task(n).ensembles)}.")
        if config.augment and not task.augments:
            raise ZooError(f"Task {task.name!r} takes no AUGMENT (got {config.augment!r}); the tasks that "
                           f"do: {', '.join(n for n in list_tasks() if get_task(n).augments)}.")
        if isinstance(config.ensemble, list):
            config.check_members(task)
        else:
            require_positive_int("ensemble", config.ensemble)
        if config.schedule not in SCHEDULES:
            raise ZooError(f"Unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}.")
        return config
