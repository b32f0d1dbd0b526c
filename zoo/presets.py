"""Presets: named, recorded choices of task, data set, architecture and training settings.

    >>> import zoo
    >>> zoo.list_presets("many_to_one")
    ['gun_point_bigru', 'italy_power_demand_bigru', 'arrow_head_bigru', ...]
    >>> model = zoo.from_preset("gun_point_bigru")  # untrained, compiled, ready for fit
    >>> model = zoo.from_preset("gun_point_bigru", pretrained=True)  # trained as `make zoo` trains it

Each task module lists its presets (Task.presets); `make train PRESET=<name>` trains one on its data
set, `PRESET=<name> DATA=<file>` the same architecture and settings on your file. Their test figures
come from `make bench-results` (mean over its seeds), recorded in preset_results.json beside this
module, which the bench rewrites.
"""

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from zoo.errors import ZooError

RESULTS_FILE = Path(__file__).with_name("preset_results.json")
# Where `make zoo` (and from_preset(pretrained=True)) keeps each preset's run, and the seed it trains with.
ZOO_RUNS = Path("runs/zoo")
ZOO_SEED = 42


@dataclass(frozen=True)
class Preset:
    """name: the preset's name; task, dataset: what it is for; settings: TrainConfig fields
    (architecture and training); options: the data set's options; why: what it uses and why;
    chosen_by: the search that chose it, on validation data only."""

    name: str
    task: str
    dataset: str
    settings: dict
    why: str
    chosen_by: str
    options: dict = field(default_factory=dict)

    def config(self, **overrides):
        """The TrainConfig of this preset, with `overrides` (e.g. seed, epochs, data=<your file>).

        With data= (your own file), the bundled data set's name and options do not apply.
        """
        from zoo.config import TrainConfig

        known = {f.name for f in fields(TrainConfig)} - {"task", "preset"}
        unknown = set(overrides) - known
        if unknown:
            raise ZooError(f"A preset takes no setting {', '.join(sorted(unknown))}; "
                           f"the settings are: {', '.join(sorted(known))}.")
        base = {"dataset": self.dataset, "options": dict(self.options)}
        if overrides.get("data") is not None:
            base = {"dataset": None, "options": {}}
        return TrainConfig(task=self.task, preset=self.name, **{**base, **self.settings, **overrides})

    def describe(self):
        """One line: cell, direction, depth, width, readout, chunking; epochs, schedule, rate."""
        c = self.config().resolved()
        units = "/".join(str(u) for u in (c.units if isinstance(c.units, list) else [c.units]))
        model = [f"{'bidirectional ' if c.bidirectional else ''}{c.cell} {units} x {c.layers}"]
        model += [f"chunks of {c.chunk}"] if c.chunk else []
        model += [f"{c.readout} readout"] if c.readout != "last" else []
        model += [f"dropout {c.dropout:g}"] if c.dropout else []
        model += ["a convolutional branch (FCN)"] if c.fcn is True else []
        model += ["squeeze-and-excite"] if c.squeeze_excite is True else []
        training = [f"{c.epochs} epochs", f"{c.schedule} rate {c.learning_rate:g}", f"batch {c.batch_size}"]
        training += [f"clipnorm {c.clipnorm:g}"] if c.clipnorm else []
        return f"{', '.join(model)}; {', '.join(training)}"


def _presets():
    from zoo.registry import _tasks

    return {preset.name: preset for task in _tasks().values() for preset in task.presets}


def list_presets(task=None):
    """The presets' names, every task's or one task's."""
    return [name for name, preset in _presets().items() if task is None or preset.task == task]


def get_preset(name):
    presets = _presets()
    if name not in presets:
        raise ZooError(f"Unknown preset {name!r}; choose one of {', '.join(presets)} (rnn-zoo presets).")
    return presets[name]


def config_of(task=None, preset=None, **settings):
    """The TrainConfig of a task with `settings`, or of a preset (of that task, if one is named) with
    `settings` over its own: what `rnn-zoo train` and `zoo.train` train."""
    from zoo.config import TrainConfig

    if preset is None:
        if task is None:
            raise ZooError("Training needs a task (TASK=, --task, zoo.list_tasks()) or a preset "
                           "(PRESET=, --preset, zoo.list_presets()).")
        return TrainConfig(task=task, **settings)
    chosen = get_preset(preset)
    if task not in (None, chosen.task):
        raise ZooError(f"Preset {chosen.name!r} is for task {chosen.task!r}, not {task!r}.")
    return chosen.config(**settings)


def from_preset(name, data=None, pretrained=False, runs_dir=ZOO_RUNS):
    """The preset's model: untrained and compiled as its training compiles it, or trained.

    Args:
        name: a preset (`list_presets()`).
        data: a zoo.data.Dataset, or a path to your own file; by default the preset's bundled data
            set, which gives the model its input and output sizes (vocabulary, features, classes).
        pretrained: the preset trained on its bundled data set as `make zoo` trains it (seed 42):
            the finished run in `runs_dir/<name>` where there is one, else trained there first.
        runs_dir: the folder of the presets' runs (make zoo's `runs/zoo`).
    """
    from zoo.registry import get_task
    from zoo.training import compile_model, load_data, load_trained_model, train

    preset = get_preset(name)
    if pretrained:
        if data is not None:
            raise ZooError("pretrained=True gives the preset trained on its own data set; to train it on "
                           f"yours: zoo.train(preset={name!r}, data=...).")
        run_dir = Path(runs_dir) / name
        if not (run_dir / "metrics.json").exists():
            train(preset.config(seed=ZOO_SEED), run_dir=run_dir)
        return load_trained_model(run_dir / "model.keras")
    config = preset.config(**({"data": str(data)} if isinstance(data, str | Path) else {})).resolved()
    if data is None or isinstance(data, str | Path):
        data = load_data(config)
    model = get_task(preset.task).build(data.spec, config.architecture_for(data))
    return compile_model(model, config, data.spec, len(data.y_train))


def recorded_results():
    """{preset name: its figures from the last `make bench-results`}; {} before the first."""
    return json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
