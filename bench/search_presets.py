"""make search-presets: the search that chose the continuous-input presets, by k-fold cross-validation.

A UCR set's validation split is tiny (GunPoint holds out 10 series), so a tie on it decides little.
Here each candidate is trained K times on the training and validation splits together, each time
holding out another fold (stratified), with the zoo's own builder and optimiser settings
(zoo.training.compile_model); the candidate with the best mean fold score wins. The test split is
never read. For sunspots the folds are blocks of consecutive windows, every one before the test years.

    make search-presets                 # every set below
    SETS=gun_point make search-presets  # one

Prints one line per candidate; keeps every set's scores in bench/preset_search.json and writes them
as bench/preset_search.md. A candidate already scored there is kept, not trained again (delete a set's
rows to score it anew).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402

import zoo  # noqa: E402
from zoo import augment  # noqa: E402
from zoo.data import PAD_VALUE, continuous_spec  # noqa: E402
from zoo.training import TrainConfig, compile_model  # noqa: E402

FOLDS = 5
REPO = Path(__file__).resolve().parent.parent
# The UCR candidates: what reading a long series needs (chunks, a mean readout, two directions),
# at the zoo's batch of 16 with a cosine schedule over a fixed number of epochs.
_UCR = {"cell": "gru", "bidirectional": True, "units": 64, "readout": "mean", "schedule": "cosine",
        "learning_rate": 3e-3, "epochs": 100, "batch_size": 16}
# And the task's defaults ({}: LSTM-FCN's convolutional branch beside the GRU, sized by the data's rule),
# which came after the first search.
CANDIDATES = {
    "gun_point": [{**_UCR, "chunk": 5}, {**_UCR, "chunk": 10}, {**_UCR, "chunk": 25}, {}],
    "arrow_head": [{**_UCR, "chunk": 10}, {**_UCR, "chunk": 25}, {**_UCR, "chunk": 50}, {}],
    "italy_power_demand": [{**_UCR, "chunk": 0}, {**_UCR, "chunk": 4}, {}],
    "basic_motions": [{**_UCR, "chunk": 0}, {**_UCR, "chunk": 5}, {**_UCR, "chunk": 10}, {}],
    "japanese_vowels": [{**_UCR, "chunk": 0}, {**_UCR, "chunk": 2}, {}],
    "sunspots": [{"cell": cell, "units": units, "bidirectional": False, "readout": "last", "chunk": 0,
                  "schedule": "cosine", "learning_rate": rate, "epochs": 200, "batch_size": 16}
                 for cell, units, rate in (("gru", 16, 3e-3), ("gru", 64, 1e-3), ("lstm", 16, 3e-3))]
    + [{**_UCR, "chunk": 0, "epochs": 200}],
}


def _pad_to(x, width):
    return np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=PAD_VALUE)


def pooled_training_data(task, dataset):
    """The training and validation splits together (padded to one length), and the data's kind."""
    data = task.load(dataset, seed=0)
    width = max(data.x_train.shape[1], data.x_val.shape[1])
    x = np.concatenate([_pad_to(data.x_train, width), _pad_to(data.x_val, width)])
    return x, np.concatenate([data.y_train, data.y_val]), data.spec


def fold_score(task, dataset, settings, x, y, spec, fit_rows, held_rows, seed):
    """The held-out fold's score of `settings` (the task's defaults where empty: their "auto" fields
    sized to the fold's training rows, as a run sizes them to its training split)."""
    config = TrainConfig(task=task.name, dataset=dataset, seed=seed, **settings).resolved()
    keras.utils.set_random_seed(seed)
    fold_spec = continuous_spec(spec.kind, spec.num_outputs, x[fit_rows], y[fit_rows] if spec.kind ==
                                "regression" else None)
    architecture = config.architecture_for(SimpleNamespace(spec=fold_spec, x_train=x[fit_rows]))
    model = task.build(fold_spec, architecture)
    fitted = augment.training_model(model, config.augment, fold_spec, PAD_VALUE, seed) if config.augment \
        else model
    compile_model(fitted, config, spec, len(fit_rows))
    fitted.fit(x[fit_rows], y[fit_rows], epochs=config.epochs, batch_size=config.batch_size, verbose=0)
    if fitted is not model:
        compile_model(model, config, spec, len(fit_rows))
    scores = model.evaluate(x[held_rows], y[held_rows], return_dict=True, verbose=0)
    return scores["accuracy"] if spec.kind == "classification" else scores["root_mean_squared_error"]


def search(dataset, candidates, scored=()):
    """(settings, mean, sd, seconds) of each candidate; one in `scored` (rows of preset_search.json) is
    kept, not trained again."""
    task = zoo.get_task("many_to_one")
    x, y, spec = pooled_training_data(task, dataset)
    if spec.kind == "classification":
        folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y))
    else:  # blocks in time, all before the test years
        folds = list(KFold(FOLDS).split(x))
    rows = []
    for settings in candidates:
        known = next((row for row in scored if row["settings"] == settings), None)
        if known:
            rows.append((settings, known["mean"], known["sd"], known["seconds"]))
            continue
        started = time.perf_counter()
        scores = [fold_score(task, dataset, settings, x, y, spec, fit, held, seed)
                  for seed, (fit, held) in enumerate(folds)]
        rows.append((settings, statistics.mean(scores), statistics.stdev(scores),
                     time.perf_counter() - started))
        print(f"{dataset}: {settings} -> {rows[-1][1]:.3f} ± {rows[-1][2]:.3f} ({rows[-1][3]:.0f} s)",
              flush=True)
    return rows


def write_report(scores):
    """bench/preset_search.md from every set's scores (bench/preset_search.json), the winner marked."""
    lines = ["# Preset search (make search-presets)", "",
             f"{FOLDS}-fold cross-validation on the training and validation splits; the test split is "
             "not read. Accuracy for the UCR/UEA sets (higher is better), RMSE for sunspots (lower).", "",
             "| data set | candidate (what differs from the UCR base) | fold score (mean ± sd) | seconds "
             "| chosen |",
             "|---|---|---|---|---|"]
    for dataset, rows in scores.items():
        lower_is_better = dataset in zoo.get_task("many_to_one").regression_datasets
        best = (min if lower_is_better else max)(row["mean"] for row in rows)
        tied = [row for row in rows if round(row["mean"], 3) == round(best, 3)]
        # A tie (to the 3 decimals shown) goes to the task's defaults ({}), else to the steadier
        # candidate (the smaller sd).
        winner = next((row for row in tied if not row["settings"]), min(tied, key=lambda row: row["sd"]))
        for row in rows:
            shown = ", ".join(f"{k}={v}" for k, v in row["settings"].items() if _UCR.get(k) != v) or "base"
            shown = "the task's defaults" + (f" with {shown}" if shown != "base" else "") \
                if row["settings"].get("cell") is None else shown
            lines.append(f"| {dataset} | {shown} | {row['mean']:.3f} ± {row['sd']:.3f} | "
                         f"{row['seconds']:.0f} | {'yes' if row is winner else ''} |")
    (REPO / "bench" / "preset_search.md").write_text("\n".join(lines) + "\n")


def main():
    wanted = os.environ.get("SETS", "").split(",") if os.environ.get("SETS") else list(CANDIDATES)
    record = REPO / "bench" / "preset_search.json"
    scores = json.loads(record.read_text()) if record.exists() else {}
    for dataset in wanted:
        scores[dataset] = [{"settings": settings, "mean": mean, "sd": sd, "seconds": seconds}
                           for settings, mean, sd, seconds in search(dataset, CANDIDATES[dataset],
                                                                     scores.get(dataset, ()))]
        record.write_text(json.dumps(scores, indent=1) + "\n")
        write_report(scores)


if __name__ == "__main__":
    main()
