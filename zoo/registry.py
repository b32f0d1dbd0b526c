"""The task registry: `list_tasks()` and `get_task(name)`, in the manner of timm and torchvision."""

from collections.abc import Callable
from dataclasses import dataclass, field

from zoo.architecture import Architecture, require_positive_int
from zoo.data import Dataset, DataSpec
from zoo.errors import ZooError
from zoo.options import checked_options

_TASKS = {}


@dataclass(frozen=True)
class Task:
    """One way of mapping inputs to outputs, with its builder, its data sets and its defaults.

    build(spec, architecture) -> keras.Model
    datasets: name -> loader(seed, max_len, **options) -> Dataset
    regression_datasets: the data sets whose targets are values, not classes
    defaults: training defaults (epochs, batch_size, learning_rate, patience);
        dataset_defaults: name -> the ones a data set changes
    generates: the model is trained with teacher forcing ([source, decoder_input] -> next token)
        and generates by greedy decoding (zoo.decoding)
    formats: the zoo.files.FileFormat of each kind of file the task reads (the user's own data)
    architecture_options: the Architecture fields beyond cell, direction, depth, width and dropout
        that the builder reads (zoo.architecture.OPTIONAL_FIELDS)
    presets: the task's zoo.presets.Preset entries, one per bundled data set
    sequence_inputs: the positions of the model inputs that are right-padded sequences (length
        bucketing, zoo.batching, trims them to each batch's longest row; the first decides the bucket)
    target_per_step: the target has one entry per step of the last of the sequence inputs
    loss: spec -> (loss, metrics) where the task trains with its own loss (default: by kind)
    windows: (data, config) -> (training pipeline, validation (x, y, weight), batches per epoch),
        where the task draws its training examples itself (forecasting's windows) instead of
        reading the arrays
    evaluate: (model, data, config, run_dir) -> {"test": scores, ...}, where the task scores the
        test split itself (and writes its own files into the run) instead of Model.evaluate
    searched_options: data -> {option: choices}, the data set options (OPTIONS) of its own that a
        search varies beside the architecture (forecasting's context size and distribution head)
    validation_score: data -> a Keras callback that adds the task's own validation score to each
        epoch's logs under `validation_score.name`, the objective its search minimises (where the
        validation loss is not comparable between trials)
    ensembles: its model gives one answer per example that an ensemble averages (ENSEMBLE=N,
        zoo.ensemble): neither generated text, nor one answer per step, nor windows of its own
    streams: its answer after each step reads the steps so far, so a step model (zoo.step) may stream it,
        step by step with the states carried, where its layers allow
    augments: it reads whole series of numbers with one answer each, which AUGMENT may change at random
        while training (zoo.augment)
    """

    name: str
    shape: str
    example: str
    build: Callable[[DataSpec, Architecture], object]
    datasets: dict
    default_dataset: str
    defaults: dict
    regression_datasets: tuple = ()
    dataset_defaults: dict = field(default_factory=dict)
    generates: bool = False
    formats: tuple = ()
    architecture_options: tuple = ()
    presets: tuple = ()
    sequence_inputs: tuple = ()
    target_per_step: bool = False
    loss: Callable | None = None
    windows: Callable | None = None
    evaluate: Callable | None = None
    searched_options: Callable | None = None
    validation_score: Callable | None = None
    ensembles: bool = False
    augments: bool = False
    streams: bool = False

    def check_dataset(self, name):
        if name not in self.datasets:
            raise ZooError(
                f"Unknown data set {name!r} for task {self.name!r}; "
                f"choose one of {', '.join(sorted(self.datasets))}."
            )
        return name

    def kind(self, dataset=None):
        name = self.check_dataset(dataset or self.default_dataset)
        return "regression" if name in self.regression_datasets else "classification"

    def training_defaults(self, dataset=None):
        name = self.check_dataset(dataset or self.default_dataset)
        return {**self.defaults, **self.dataset_defaults.get(name, {})}

    def load(self, dataset=None, seed=0, max_len=None, limit=None, data=None, val_data=None,
             test_data=None, **options) -> Dataset:
        """Loads a bundled data set of this task, or the user's own files (`data=`).

        data: a file or a folder (zoo.files), or NumPy arrays (x, y); val_data / test_data name
        the files of those splits. max_len cuts longer sequences (and says how many in
        `Dataset.truncated`); limit keeps the first examples of each split; options go to the data
        set's loader or the file format (e.g. seq_len=200, text="review").
        """
        if max_len is not None:
            require_positive_int("max_len", max_len)
        if data is not None:
            from zoo import files

            loaded = files.load(self, data, val_data, test_data, seed=seed, max_len=max_len, options=options,
                                other_tasks=[task for task in _tasks().values() if task is not self])
        else:
            if val_data is not None or test_data is not None:
                raise ZooError("VAL_DATA and TEST_DATA go with DATA (your own files), "
                               "not with a bundled data set.")
            name = self.check_dataset(dataset or self.default_dataset)
            loader = self.datasets[name]
            loaded = loader(seed=seed, max_len=max_len,
                            **checked_options(loader, options, f"Data set {name!r}"))
        return loaded.head(limit) if limit else loaded

    def build_model(self, spec, **architecture):
        return self.build(spec, Architecture(**architecture).check_for(self))


def register(task):
    if task.name in _TASKS:
        raise ZooError(f"Task {task.name!r} is registered twice.")
    if task.default_dataset not in task.datasets:
        raise ZooError(
            f"Task {task.name!r}: default data set {task.default_dataset!r} is not one of its own."
        )
    _TASKS[task.name] = task
    return task


def _tasks():
    # The task modules import this one to register themselves, so they are imported here, not at the top.
    import zoo.tasks  # noqa: F401

    return _TASKS


def list_tasks():
    return list(_tasks())


def get_task(name):
    try:
        return _tasks()[name]
    except KeyError:
        raise ZooError(f"Unknown task {name!r}; choose one of {', '.join(_TASKS)}.") from None


def loss_and_metrics(kind, task=None, spec=None):
    """Cross-entropy for classes, MSE for values (Keras averages both over unmasked steps only), or
    the task's own loss (Task.loss)."""
    if task is not None and task.loss is not None:
        return task.loss(spec)
    if kind == "classification":
        return "sparse_categorical_crossentropy", ["accuracy"]
    return "mse", ["mae", "root_mean_squared_error"]
