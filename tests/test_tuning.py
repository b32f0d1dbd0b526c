"""The tuner's search spaces, and a small search that resumes without repeating trials."""

import csv
import json
import os
import signal
import threading
import time

import keras_tuner
import numpy as np
import pytest

import zoo
from tests.tiny import TINY
from tuning import TaskHyperModel, TuneConfig, distributed, tune
from tuning.hypermodels import MAX_LAYERS

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it


def _recurrent_layers(model):
    return [getattr(layer, "forward_layer", layer) for layer in model.layers
            if isinstance(getattr(layer, "forward_layer", layer), tuple(zoo.CELLS.values()))]


@pytest.mark.parametrize("task_name", zoo.list_tasks())
def test_space_builds_models_at_its_defaults_bounds_and_random_samples(task_name):
    spec, make_inputs, expected_shape = TINY[task_name]
    hypermodel = TaskHyperModel(task_name, spec)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)  # declares the space at its defaults: one layer of 16 units
    widest = {"layers": MAX_LAYERS, "cell": "lstm", "dropout": 0.5, "learning_rate": 1e-2}
    if task_name != "one_to_many":
        widest["bidirectional"] = True
    hp.values.update(widest)
    hypermodel.build(hp)  # declares the sizes of layers 2-4
    hp.values.update({f"units_{d}": 256 for d in range(1, MAX_LAYERS + 1)})
    model = hypermodel.build(hp)
    stacks = 2 if task_name == "seq2seq" else 1
    recurrent = _recurrent_layers(model)
    assert len(recurrent) == stacks * MAX_LAYERS
    # A decoder layer takes both directions of its bidirectional encoder layer.
    assert sorted({layer.units for layer in recurrent}) == ([256, 512] if task_name == "seq2seq" else [256])
    for seed in range(3):
        for parameter in hp.space:
            hp.values[parameter.name] = parameter.random_sample(seed)
        model = hypermodel.build(hp)
        assert len(_recurrent_layers(model)) == stacks * hp.values["layers"]
        outputs = model(make_inputs(np.random.default_rng(seed), 2, 3))
        assert tuple(outputs.shape) == expected_shape(2, 3)


def test_many_to_one_searches_its_readout_front_end_and_convolutional_branch():
    hypermodel = TaskHyperModel("many_to_one", TINY["many_to_one"][0], fixed={"chunk": 2})
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    assert {"readout", "front_end", "fcn"} <= {p.name for p in hp.space}
    hp.values.update({"readout": "attention", "front_end": "conv", "fcn": True})
    hypermodel.build(hp)  # declares the gates, which exist with the convolutional branch only
    hp.values["squeeze_excite"] = True
    names = {layer.name for layer in hypermodel.build(hp).layers}
    assert {"attention_over_steps", "strided_conv", "fcn_conv_1", "fcn_squeeze_excite_1"} <= names
    hp.values["fcn"] = False
    assert not hp.is_active("squeeze_excite")
    # Without chunks there is nothing for a front end to make.
    unchunked = keras_tuner.HyperParameters()
    TaskHyperModel("many_to_one", TINY["many_to_one"][0]).build(unchunked)
    assert "front_end" not in {p.name for p in unchunked.space}


def test_sizes_of_missing_layers_are_inactive():
    hypermodel = TaskHyperModel("tagging", TINY["tagging"][0])
    hp = keras_tuner.HyperParameters()
    hp.values["layers"] = 3
    hypermodel.build(hp)
    hp.values["layers"] = 1
    assert hp.is_active("units_1") and not hp.is_active("units_2") and not hp.is_active("units_3")


def test_fixed_values_are_honoured():
    hypermodel = TaskHyperModel("many_to_one", TINY["many_to_one"][0],
                                fixed={"cell": "gru", "layers": 2, "units": 24})
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    fixed = {p.name for p in hp.space if isinstance(p, keras_tuner.engine.hyperparameters.Fixed)}
    assert fixed == {"cell", "layers", "units_1", "units_2"}
    recurrent = _recurrent_layers(model)
    assert [type(layer).__name__ for layer in recurrent] == ["GRU", "GRU"]
    assert [layer.units for layer in recurrent] == [24, 24]


def test_fixed_units_may_give_each_layer_its_own_size():
    hypermodel = TaskHyperModel("many_to_one", TINY["many_to_one"][0], fixed={"layers": 2, "units": [24, 16]})
    assert [layer.units for layer in _recurrent_layers(hypermodel.build(keras_tuner.HyperParameters()))] == \
        [24, 16]


@pytest.mark.parametrize(("fixed", "message"), [
    ({"optimizer": "sgd"}, "Cannot fix optimizer"),
    ({"cell": "rnn"}, "Unknown cell 'rnn'"),
    ({"units": 0}, "units must be a positive integer"),
])
def test_bad_fixed_values_are_clear_errors(fixed, message):
    with pytest.raises(ValueError, match=message):
        TaskHyperModel("tagging", TINY["tagging"][0], fixed=fixed)


def test_one_to_many_is_never_searched_bidirectional():
    with pytest.raises(ValueError, match="cannot be bidirectional"):
        TaskHyperModel("one_to_many", TINY["one_to_many"][0], fixed={"bidirectional": True})


def _trials(project_dir):
    with open(project_dir / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_search_writes_its_reports_resumes_and_repeats_for_a_seed(tmp_path):
    settings = {"task": "one_to_one", "max_trials": 2, "epochs": 1, "limit": 64}
    project = tune(TuneConfig(tune_dir=str(tmp_path / "a"), **settings), verbose=0)
    for name in ("best_hyperparameters.json", "trials.csv", "trials.png", "best_run/metrics.json",
                 "best_run/model.keras"):
        assert (project / name).stat().st_size > 0
    first = _trials(project)
    assert [row["trial_id"] for row in first] == ["0", "1"]
    assert all(float(row["seconds"]) > 0 for row in first)
    best = json.loads((project / "best_hyperparameters.json").read_text())
    assert max(float(row["score"]) for row in first) == pytest.approx(
        float(next(r["score"] for r in first if int(r["layers"]) == best["layers"]
                   and r["cell"] == best["cell"] and float(r["learning_rate"]) == best["learning_rate"])))

    # The same command again: nothing to do, nothing repeated.
    tune(TuneConfig(tune_dir=str(tmp_path / "a"), **settings), verbose=0)
    assert _trials(project) == first
    # One more trial allowed: only that one runs.
    tune(TuneConfig(tune_dir=str(tmp_path / "a"), **{**settings, "max_trials": 3}), verbose=0)
    assert _trials(project)[:2] == first and len(_trials(project)) == 3

    # Same seed elsewhere: the same hyperparameters, trial by trial.
    other = tune(TuneConfig(tune_dir=str(tmp_path / "b"), **settings), verbose=0)
    hyperparameters = ("layers", "units_1", "cell", "bidirectional", "dropout", "learning_rate")
    assert [[r[k] for k in hyperparameters] for r in _trials(other)] == \
        [[r[k] for k in hyperparameters] for r in first]


def test_generating_tasks_search_on_validation_exact_match(tmp_path):
    project = tune(TuneConfig(task="seq2seq", max_trials=1, epochs=1, limit=48, tune_dir=str(tmp_path),
                              fixed={"layers": 1, "units": 16}), verbose=0)
    trial = json.loads((project / "trial_0" / "trial.json").read_text())
    (exact_match,) = trial["metrics"]["metrics"]["val_exact_match"]["observations"]
    # The trial's score is greedy decoding's exact match on the validation split.
    assert trial["score"] == pytest.approx(exact_match["value"][0]) and 0.0 <= trial["score"] <= 1.0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_distributed_search_finishes_when_a_worker_is_killed_mid_trial(tmp_path):
    config = TuneConfig(task="one_to_one", max_trials=3, epochs=3, limit=64, tune_dir=str(tmp_path),
                        workers=2)
    project = tmp_path / "one_to_one-digits"
    killed = []

    def kill_once_training(process):
        deadline = time.monotonic() + 120
        while not any(project.glob("trial_*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed.append(process.pid)

    def on_start(tuner_id, process):
        if tuner_id == "tuner1" and not killed:
            threading.Thread(target=kill_once_training, args=(process,), daemon=True).start()

    pids = distributed.run_local(config, workers=2, on_start=on_start)
    assert killed, "the worker ended before it could be killed"
    assert len(pids) == 4  # the chief, two workers, and tuner1 started again
    assert not any(_alive(pid) for pid in pids)
    rows = _trials(project)
    assert [row["trial_id"] for row in rows] == ["0", "1", "2"]
    # The winner retrains on the search's workers too (tf.distribute, two replicas).
    assert json.loads((project / "best_run" / "metrics.json").read_text())["replicas"] == 2


def test_a_tune_dir_that_is_a_file_is_one_line_before_any_data_loads(tmp_path, monkeypatch, capsys):
    import tuning.search
    from zoo.cli import main

    tune_dir = tmp_path / "tuning_runs"
    tune_dir.write_text("not a folder")
    monkeypatch.setattr(tuning.search, "load_data", lambda config: pytest.fail("data was loaded"))
    assert main(["tune", "--task", "one_to_one", "--limit", "32", "--tune-dir", str(tune_dir)]) == 2
    assert capsys.readouterr().err == f"rnn-zoo: error: TUNE_DIR {tune_dir} is a file, not a directory.\n"


def test_the_winner_retrains_with_the_recipe_its_trials_used(tmp_path):
    from zoo.cli import main

    # many_to_one's own recipe is 100 cosine epochs; its trials train at a constant rate, stopping early.
    assert main(["tune", "--task", "many_to_one", "--max-trials", "1", "--epochs", "2", "--patience", "1",
                 "--limit", "32", "--layers", "1", "--units", "8", "--tune-dir", str(tmp_path)]) == 0
    project = tmp_path / "many_to_one-gun_point"
    trial = json.loads((project / "trial_0" / "trial.json").read_text())
    run = json.loads((project / "best_run" / "config.json").read_text())
    assert (run["schedule"], run["clipnorm"], run["patience"], run["epochs"]) == ("constant", 0, 1, 2)
    assert run["learning_rate"] == trial["hyperparameters"]["values"]["learning_rate"]
    assert (run["layers"], run["units"]) == (1, [8])
