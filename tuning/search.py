"""`rnn-zoo tune`: a resumable KerasTuner search, its reports, and the winner retrained as a run.

<tune_dir>/<task>-<dataset>/ holds KerasTuner's own state (run the same command again and it
resumes: finished trials are kept, not repeated), best_hyperparameters.json, trials.csv,
trials.png and best_run/, a normal run directory that `make export` takes as it is.
"""

import csv
import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import keras_tuner

from tuning import distributed
from tuning.hypermodels import CARRIED, MAX_LAYERS, TaskHyperModel, objective
from zoo.architecture import require_positive_int
from zoo.decoding import ValidationExactMatch
from zoo.errors import ZooError
from zoo.files import NO_VALIDATION
from zoo.registry import get_task
from zoo.training import TrainConfig, load_data, require_writable_dir, train, write_json

TUNERS = {
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
}


@dataclass(frozen=True)
class TuneConfig:
    task: str
    dataset: str | None = None
    tuner: str = "random"
    max_trials: int = 10
    epochs: int = 20
    batch_size: int | None = None
    patience: int = 5
    seed: int = 42
    tune_dir: str = "tuning_runs"
    fixed: dict = field(default_factory=dict)
    max_len: int | None = None
    limit: int | None = None
    options: dict = field(default_factory=dict)
    workers: int = 1
    data: str | None = None
    val_data: str | None = None
    test_data: str | None = None

    def __post_init__(self):
        if self.tuner not in TUNERS:
            raise ZooError(f"Unknown tuner {self.tuner!r}; choose one of {', '.join(TUNERS)}.")
        for name in ("max_trials", "epochs", "patience", "workers"):
            require_positive_int(name, getattr(self, name))


def _timed(tuner_class):
    """The tuner, recording each trial's seconds in its trial directory."""

    class Timed(tuner_class):
        def run_trial(self, trial, *args, **kwargs):
            started = time.perf_counter()
            results = super().run_trial(trial, *args, **kwargs)
            seconds = round(time.perf_counter() - started, 2)
            Path(self.get_trial_dir(trial.trial_id), "seconds.json").write_text(json.dumps(seconds))
            return results

    return Timed


def project_name(task, dataset):
    return f"{task.name}-{dataset}"


def build_tuner(config, hypermodel, task, dataset, spec):
    tuner_class = _timed(TUNERS[config.tuner])
    if config.tuner == "hyperband":
        budget = {"max_epochs": config.epochs}
    else:
        budget = {"max_trials": config.max_trials}
    return tuner_class(
        hypermodel,
        objective=objective(task, spec),
        # KerasTuner's oracle takes a seed of 0 for "no seed": shift by one so SEED=0 is a seed too.
        seed=config.seed + 1,
        directory=config.tune_dir,
        project_name=project_name(task, dataset),
        overwrite=False,
        **budget,
    )


def _trial_rows(tuner):
    rows = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        if trial.status != "COMPLETED":
            continue
        seconds_file = Path(tuner.get_trial_dir(trial.trial_id), "seconds.json")
        rows.append({
            "trial_id": trial.trial_id,
            "score": trial.score,
            "seconds": json.loads(seconds_file.read_text()) if seconds_file.exists() else None,
            # Sizes of layers a trial did not have are left blank.
            **{name: trial.hyperparameters.values.get(name) if trial.hyperparameters.is_active(name)
               else None for name in _columns(tuner)},
        })
    return rows


def _columns(tuner):
    return [hp.name for hp in tuner.oracle.hyperparameters.space]


def _write_reports(tuner, project_dir, objective_name):
    rows = _trial_rows(tuner)
    with open(project_dir / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["trial_id", *_columns(tuner), "score", "seconds"])
        writer.writeheader()
        writer.writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    widest = [max(r.get(f"units_{d}") or 0 for d in range(1, MAX_LAYERS + 1)) for r in rows]
    scores = [r["score"] for r in rows]
    axes[0].scatter([r["layers"] for r in rows], scores)
    axes[0].set(xlabel="layers", ylabel=objective_name, xticks=range(1, MAX_LAYERS + 1))
    axes[1].scatter(widest, scores)
    axes[1].set(xlabel="widest layer (units)", xscale="log", ylabel=objective_name)
    figure.suptitle(f"{len(rows)} trials")
    figure.tight_layout()
    figure.savefig(project_dir / "trials.png", dpi=100)
    plt.close(figure)
    return rows


def tune(config, verbose="auto"):
    """Runs (or resumes) the search, writes its reports and retrains the best; returns the project dir.

    With `workers` > 1 the search runs in a local chief and that many worker processes, and the
    chief writes the reports. A process started as a worker only trains the trials it is given.
    """
    task = get_task(config.task)
    require_writable_dir(config.tune_dir, "TUNE_DIR")  # KerasTuner would find out in a traceback
    # The data set named as a training run names it: bundled, or the user's files.
    run_config = TrainConfig(task=config.task, dataset=config.dataset, data=config.data,
                             val_data=config.val_data, test_data=config.test_data, seed=config.seed,
                             max_len=config.max_len, limit=config.limit, options=config.options,
                             characters=config.fixed.get("characters")).resolved()
    dataset = run_config.dataset
    if config.workers > 1 and distributed.role() is None:
        distributed.run_local(config, config.workers)
        return Path(config.tune_dir) / project_name(task, dataset)
    data = load_data(run_config)
    if not len(data.y_val):
        raise ZooError(f"A search ranks its trials on a validation split, and this data has none: "
                       f"{NO_VALIDATION}")
    # Not searched: the task's chunk (chunk="auto" sized to this data) and a tagger's character encoder.
    carried = {name: getattr(run_config.architecture_for(data), name) for name in CARRIED}
    # The trials' training (and the winner's): the search's epochs, batch size and patience.
    recipe = replace(run_config, epochs=config.epochs, batch_size=config.batch_size or run_config.batch_size,
                     patience=config.patience)
    hypermodel = TaskHyperModel(task.name, data.spec, {**carried, **config.fixed}, recipe,
                                load=lambda options: data if not options else load_data(
                                    replace(run_config, options={**run_config.options, **options})),
                                options=run_config.options)
    recipe = hypermodel.recipe
    keras.utils.set_random_seed(config.seed)
    tuner = build_tuner(config, hypermodel, task, dataset, data.spec)
    project_dir = Path(tuner.project_dir)
    callbacks = [keras.callbacks.EarlyStopping(patience=recipe.patience)]
    if task.generates:
        callbacks.insert(0, ValidationExactMatch(data))
    if task.windows is not None:  # the task draws each trial's training windows (TaskHyperModel.fit)
        tuner.search(epochs=recipe.epochs, callbacks=callbacks, verbose=verbose)
    else:
        tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                     epochs=recipe.epochs, batch_size=recipe.batch_size, callbacks=callbacks, verbose=verbose)
    if distributed.role() not in (None, "chief"):
        return project_dir  # a worker: the chief holds the oracle, so it writes the reports

    rows = _write_reports(tuner, project_dir, tuner.oracle.objective.name)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best = best_trial.hyperparameters
    write_json(project_dir / "best_hyperparameters.json", best.values)
    print(f"{len(rows)} trials; best {tuner.oracle.objective.name} {best_trial.score:.4f} "
          f"(trial {best_trial.trial_id}): {best.values}")

    architecture = hypermodel.architecture(best)
    best_config = replace(recipe, **{**asdict(architecture), "units": list(architecture.layer_units)},
                          learning_rate=best.values["learning_rate"],
                          options={**recipe.options, **hypermodel.data_options(best)}).resolved()
    _retrain(config, best_config, project_dir / "best_run", verbose)
    return project_dir


def _retrain(config, best_config, run_dir, verbose):
    """Trains the winner (best_config: the trials' recipe, its architecture and learning rate) as a
    normal run directory, unless that run is already there."""
    config_file = run_dir / "config.json"
    if config_file.exists() and json.loads(config_file.read_text()) != asdict(best_config):
        shutil.rmtree(run_dir)  # the retrained winner of an earlier, shorter search
    if (run_dir / "metrics.json").exists():
        return
    if config.workers > 1:  # the search's workers have finished: the winner trains on as many
        from zoo.distributed import run_local

        run_local(best_config, run_dir, config.workers)
    else:
        train(best_config, run_dir=run_dir, verbose=verbose)
