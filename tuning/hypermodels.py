"""One KerasTuner HyperModel per task, in the manner of KerasTuner's HyperResNet.

The constructor takes the data contract (the data set's DataSpec); `build(hp)` declares the space:
depth 1-4, a hidden size per layer (log scale, declared only for the layers that exist), cell,
bidirectional, dropout and learning rate, and where the task's builder has them, the readout (last,
mean, attention), what makes chunks (front_end, where there are chunks) and the fully convolutional
branch (fcn) with or without squeeze-and-excite, and a decoder's attention over the source (none, dot,
general, additive). Any of them can be fixed.
"""

from dataclasses import replace

import keras_tuner

from zoo.architecture import ATTENTIONS, CELLS, FRONT_ENDS, READOUTS, Architecture
from zoo.config import SEARCHABLE, TrainConfig
from zoo.errors import ZooError
from zoo.registry import get_task
from zoo.training import compile_model

MAX_LAYERS = 4
# How every trial trains, as TrainConfig settings beside the recipe's epochs, batch size and patience
# and the trial's learning rate: Adam at a constant rate, unclipped, early stopping. The winner
# retrains with the same recipe (tuning.search).
TRIAL_TRAINING = {"schedule": "constant", "clipnorm": 0}
# Not searched: every trial takes the value given (the task's default when tuning from the CLI); the
# data is loaded once for every trial, and a tagger's spelled words or not are part of it.
CARRIED = ("chunk", "characters")


def objective(task, spec):
    """The validation metric a search maximises or minimises, named as Keras logs it."""
    if task.validation_score is not None:
        return keras_tuner.Objective(task.validation_score.name, direction="min")
    if task.generates:
        return keras_tuner.Objective("val_exact_match", direction="max")
    if spec.kind == "classification":
        return keras_tuner.Objective("val_accuracy", direction="max")
    return keras_tuner.Objective("val_loss", direction="min")  # MSE


class TaskHyperModel(keras_tuner.HyperModel):
    """The search space of one task on one data set.

    task_name: a zoo task; spec: the DataSpec of the data searched on;
    fixed: values the search must not vary, e.g. {"cell": "gru", "layers": 2}
    ("units" fixes every layer's size, or each one's as a list); chunk, never searched, may be given
    here too. recipe: a resolved TrainConfig whose training settings the trials take
    (TRIAL_TRAINING over them; default the task's).
    load: options -> Dataset, for a task whose search varies data set options of its own
    (Task.searched_options: forecasting's context size and head); each trial trains on the data of
    its options, and the options given (`options`, as OPTIONS gives them) are fixed.
    """

    def __init__(self, task_name, spec, fixed=None, recipe=None, load=None, options=None, **kwargs):
        super().__init__(name=task_name, **kwargs)
        self.task = get_task(task_name)
        self.spec = spec
        self.load, self.options, self._loaded = load, dict(options or {}), {}
        self.recipe = replace(recipe or TrainConfig(task=task_name).resolved(), **TRIAL_TRAINING)
        self.fixed = dict(fixed or {})
        unknown = set(self.fixed) - set(SEARCHABLE) - set(CARRIED)
        if unknown:
            raise ZooError(f"Cannot fix {', '.join(sorted(unknown))}; "
                             f"fixable: {', '.join(SEARCHABLE + CARRIED)}.")
        if self.task.name == "one_to_many" and not self.fixed.get("chunk"):  # no encoder to read both ways
            if self.fixed.get("bidirectional"):
                raise ZooError("one_to_many cannot be bidirectional.")
            self.fixed["bidirectional"] = False
        # Checks fixed values early, with the same messages as a training run.
        Architecture(**{k: v for k, v in self.fixed.items() if k != "learning_rate"}).check_for(self.task)

    def _choose(self, hp, name, declare):
        """The fixed value, declared as such so it shows in the search space, or a searched one."""
        key = "units" if name.startswith("units_") else name
        if key not in self.fixed:
            return declare()
        value = self.fixed[key]
        if isinstance(value, list | tuple):  # one size per layer
            value = value[int(name.removeprefix("units_")) - 1]
        return hp.Fixed(name, value)

    def architecture(self, hp):
        layers = self._choose(hp, "layers", lambda: hp.Int("layers", 1, MAX_LAYERS))
        units = []
        for depth in range(1, layers + 1):
            # Layer `depth` exists only for depths >= it: outside that its size is inactive.
            with hp.conditional_scope("layers", list(range(depth, MAX_LAYERS + 1))):
                name = f"units_{depth}"
                units.append(self._choose(hp, name, lambda n=name: hp.Int(n, 16, 256, sampling="log")))
        # The architecture options a task's builder reads beyond these (Task.architecture_options).
        searched = {"readout": lambda: hp.Choice("readout", list(READOUTS)), "fcn": lambda: hp.Boolean("fcn"),
                    # The first trial (KerasTuner's defaults) tries the task's own default attention.
                    "attention": lambda: hp.Choice("attention", list(ATTENTIONS),
                                                   default=self.recipe.attention)}
        # Attention reads the source's steps: a sequence, or a vector read in chunks (one_to_many).
        if 0 not in self.task.sequence_inputs and not self.fixed.get("chunk"):
            searched.pop("attention")
        options = {name: self._choose(hp, name, declare) for name, declare in searched.items()
                   if name in self.task.architecture_options}
        if self.fixed.get("chunk") and "front_end" in self.task.architecture_options:  # what makes the chunks
            options["front_end"] = self._choose(hp, "front_end",
                                                lambda: hp.Choice("front_end", list(FRONT_ENDS)))
        if options.get("fcn") and "squeeze_excite" in self.task.architecture_options:  # gates its filters
            with hp.conditional_scope("fcn", [True]):
                options["squeeze_excite"] = self._choose(hp, "squeeze_excite",
                                                         lambda: hp.Boolean("squeeze_excite"))
        return Architecture(
            **options,
            cell=self._choose(hp, "cell", lambda: hp.Choice("cell", list(CELLS))),
            bidirectional=self._choose(hp, "bidirectional", lambda: hp.Boolean("bidirectional")),
            layers=layers,
            units=tuple(units),
            dropout=self._choose(hp, "dropout", lambda: hp.Float("dropout", 0.0, 0.5, step=0.1)),
            **{name: self.fixed[name] for name in CARRIED if name in self.fixed},
        )

    def data_options(self, hp):
        """The trial's own data set options (none where the task searches none, or nothing loads)."""
        if self.task.searched_options is None or self.load is None:
            return {}
        space = self.task.searched_options(self._data({}))
        return {name: hp.Fixed(name, self.options[name]) if name in self.options else hp.Choice(name, choices)
                for name, choices in space.items()}

    def trial_data(self, hp):
        """The data a trial trains on: loaded with its options, once per distinct set of them."""
        return self._data(self.data_options(hp))

    def _data(self, options):
        key = tuple(sorted(options.items()))
        if key not in self._loaded:
            self._loaded[key] = self.load(options)
        return self._loaded[key]

    def build(self, hp):
        spec = self.trial_data(hp).spec if self.load is not None else self.spec
        model = self.task.build(spec, self.architecture(hp))
        learning_rate = self._choose(
            hp, "learning_rate", lambda: hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"))
        # A constant rate: no training size is needed to count its steps.
        return compile_model(model, replace(self.recipe, learning_rate=learning_rate), spec, None,
                             jit_compile="auto")  # as Keras compiles by default

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        """Model.fit; a task that draws its own windows (Task.windows) draws the trial's here, and one
        with its own validation score (Task.validation_score) logs it for the objective."""
        if self.task.windows is None:
            return model.fit(*args, callbacks=callbacks, **kwargs)
        data = self.trial_data(hp)
        train, validation, _ = self.task.windows(data, self.recipe)
        kwargs.pop("validation_data", None)
        if self.task.validation_score is not None:  # before the tuner's own, which reads the logs
            callbacks = [self.task.validation_score(data), *callbacks]
        # The pipeline draws its windows at random itself.
        return model.fit(train, validation_data=validation, callbacks=list(callbacks), shuffle=False,
                         **kwargs)
