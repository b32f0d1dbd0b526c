"""Training end to end on tiny slices: loss falls, run directories are complete, runs resume."""

import csv
import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.training
from zoo.cli import main
from zoo.errors import ZooError
from zoo.training import TrainConfig, load_data, load_trained_model, replacing, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

TINY_RUN = {"units": 16, "epochs": 4, "limit": 64, "learning_rate": 1e-2, "patience": 10}


class KeepModel(keras.callbacks.Callback):
    """Holds on to the trained model, to compare it with what was saved."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = {}
    for name in zoo.list_tasks():
        keep = KeepModel()
        run_dir = tmp_path_factory.mktemp(name) / "run"
        # seq2seq with attention and a beam beside greedy decoding (the other generating task without)
        extra = {"attention": "dot", "beam": 2} if name == "seq2seq" else {}
        config = TrainConfig(task=name, cell="gru", **TINY_RUN, **extra)
        train(config, run_dir=run_dir, callbacks=[keep], verbose=0)
        runs[name] = (run_dir, keep.model, load_data(config.resolved()))  # the data the run read
    return runs


def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("task_name", zoo.list_tasks())
def test_training_loss_falls_and_the_run_directory_is_complete(trained, task_name):
    run_dir, _, _ = trained[task_name]
    history = _history(run_dir)
    assert [int(row["epoch"]) for row in history] == list(range(TINY_RUN["epochs"]))
    assert float(history[-1]["loss"]) < float(history[0]["loss"])
    for name in ("config.json", "data.json", "metrics.json", "model.keras", "training_curves.png"):
        assert (run_dir / name).stat().st_size > 0
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert not (run_dir / "backup").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == TINY_RUN["epochs"] and metrics["train_seconds"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == zoo.get_task(task_name).default_dataset


def _at_lengths(x, lengths):
    """The same examples cut to several lengths (a vector input has none to cut)."""
    source = x[0] if isinstance(x, list) else x
    if source.ndim == 2 and source.dtype.kind == "f":
        return [x]
    if isinstance(x, list):
        return [[x[0][:, :n], x[1]] for n in lengths]
    return [x[:, :n] for n in lengths]


@pytest.mark.parametrize("task_name", zoo.list_tasks())
def test_saved_model_reloads_and_predicts_the_same_at_several_lengths(trained, task_name):
    run_dir, model, data = trained[task_name]
    reloaded = keras.saving.load_model(run_dir / "model.keras")
    for x in _at_lengths(data.x_test, (2, 5)):
        expected = model.predict(x, verbose=0)
        # To float32's precision at the answer's magnitude: a forecast of series in the tens of millions
        # rounds its large sums differently in the trained graph and the reloaded one (without XLA).
        np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=0,
                                   atol=1e-6 * max(1.0, float(np.abs(expected).max())))
    if zoo.get_task(task_name).evaluate is not None:
        return  # the task scores its test split itself (forecasting: tests/test_forecasting.py)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # Masked losses average per batch, so evaluate in the batches training used.
    batch_size = json.loads((run_dir / "config.json").read_text())["batch_size"]
    evaluated = reloaded.evaluate(data.x_test, data.y_test, batch_size=batch_size, return_dict=True,
                                  verbose=0)
    assert evaluated["loss"] == pytest.approx(metrics["test"]["loss"], abs=1e-5)


def test_saved_models_load_in_a_process_that_never_imports_the_project(trained):
    """Built-in layers only, except the zoo's own (ChunkSteps: chunk=N, many_to_one's default on long
    series; forecasting's scaler and quantiles): a model with them loads once zoo.layers is imported,
    which imports nothing else of the project but zoo.attention's names; Keras alone cannot load it."""
    chunked = {True: [], False: []}
    for run_dir, _, _ in trained.values():
        with zipfile.ZipFile(run_dir / "model.keras") as saved:
            own = "rnn_zoo>" in saved.read("config.json").decode()
        chunked[own].append(str(run_dir / "model.keras"))
    assert chunked[False] and chunked[True]  # the default many_to_one run on GunPoint reads chunks
    load = f"import keras; keras.saving.load_model({chunked[True][0]!r})"
    alone = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, cwd="/")
    assert alone.returncode != 0 and "Could not locate class" in alone.stderr  # the docs: import zoo.layers
    for imports, paths in (("keras", chunked[False]), ("keras, zoo.layers", chunked[True])):
        script = (
            f"import sys, {imports}\n"
            "for path in sys.argv[1:]: keras.saving.load_model(path)\n"
            "project = {name for name in sys.modules if name == 'zoo' or name.startswith('zoo.')}\n"
            "assert project <= {'zoo', 'zoo.layers', 'zoo.attention'}, project\n"
            f"assert bool(project) == {'zoo' in imports}, project\n"
            "print('loaded', len(sys.argv) - 1)\n"
        )
        result = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True,
                                cwd="/")
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"loaded {len(paths)}" in result.stdout


def test_generating_tasks_report_exact_match(trained):
    for name in ("one_to_many", "seq2seq"):
        test = json.loads((trained[name][0] / "metrics.json").read_text())["test"]
        assert 0.0 <= test["exact_match"] <= test["decoded_token_accuracy"] <= 1.0
        assert (test["error_rate"] == 0.0) == (test["exact_match"] == 1.0) and test["error_rate"] >= 0.0
    # BLEU and chrF only for words read from files (tests/test_decoding.py): addition's are characters.
    captions = json.loads((trained["one_to_many"][0] / "metrics.json").read_text())["test"]
    test = json.loads((trained["seq2seq"][0] / "metrics.json").read_text())["test"]
    assert "bleu" not in test
    assert 0.0 <= test["beam_exact_match"] <= test["beam_decoded_token_accuracy"] <= 1.0
    assert "beam_exact_match" not in captions  # BEAM=1: greedy decoding alone
    assert (trained["seq2seq"][0] / "attention.png").stat().st_size > 0
    assert not (trained["one_to_many"][0] / "attention.png").exists()


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_when_the_same_command_runs_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(task="one_to_one", units=8, epochs=5, limit=48, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[Interrupt()], verbose=0)
    (run_dir,) = (tmp_path / "runs" / "one_to_one").iterdir()
    assert (run_dir / "backup").exists() and not (run_dir / "metrics.json").exists()
    assert len(_history(run_dir)) == 2

    assert train(config, verbose=0) == run_dir.relative_to(tmp_path)
    assert [int(row["epoch"]) for row in _history(run_dir)] == [0, 1, 2, 3, 4]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed"] and metrics["epochs"] == 5
    # Finished: the same command now starts a new run instead of touching this one.
    assert train(config, verbose=0) != run_dir.relative_to(tmp_path)


def test_same_seed_gives_the_same_metrics(tmp_path):
    config = TrainConfig(task="many_to_one", dataset="italy_power_demand", units=8, epochs=3, seed=7,
                         limit=64)
    first, second = (json.loads((train(config, run_dir=tmp_path / name, verbose=0) / "metrics.json")
                                .read_text())["test"] for name in ("a", "b"))
    assert first == second


def test_a_finished_run_directory_is_never_overwritten(tmp_path):
    config = TrainConfig(task="one_to_one", units=4, epochs=1, limit=32)
    train(config, run_dir=tmp_path / "run", verbose=0)
    with pytest.raises(ValueError, match="holds a finished run"):
        train(config, run_dir=tmp_path / "run", verbose=0)


def test_data_json_holds_what_a_client_needs_to_encode_and_decode(trained):
    seq2seq = json.loads((trained["seq2seq"][0] / "data.json").read_text())
    assert seq2seq["input_vocabulary"][:2] == ["<pad>", "0"] and "+" in seq2seq["input_vocabulary"]
    assert seq2seq["output_vocabulary"][:3] == ["<pad>", "<bos>", "<eos>"] and seq2seq["pad_value"] == 0
    many_to_one = json.loads((trained["many_to_one"][0] / "data.json").read_text())
    assert many_to_one["pad_value"] == -1e9 and many_to_one["labels"] == ["1", "2"]
    assert many_to_one["spec"]["num_features"] == 1


def test_a_torn_backup_resumes_from_the_one_before_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(task="one_to_one", units=8, epochs=5, limit=48, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[Interrupt()], verbose=0)
    (run_dir,) = (tmp_path / "runs" / "one_to_one").iterdir()
    latest = run_dir / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:100])  # as a kill in the middle of the write leaves it
    capsys.readouterr()
    train(config, verbose=0)
    assert "cannot be read" in capsys.readouterr().out
    # Back to the state after epoch 0: epoch 1 runs again and history.csv holds each epoch once.
    assert [int(row["epoch"]) for row in _history(run_dir)] == [0, 1, 2, 3, 4]
    assert json.loads((run_dir / "metrics.json").read_text())["resumed"]


@pytest.mark.parametrize(("settings", "words"), [
    ({"task": "one_to_many", "bidirectional": True}, "bidirectional"),
    ({"task": "one_to_one", "learning_rate": float("inf")}, "learning_rate"),
    ({"task": "one_to_one", "limit": 0}, "limit"),
    ({"task": "one_to_one", "seed": -1}, "seed"),
    ({"task": "many_to_one", "max_len": -3}, "max_len"),
])
def test_bad_settings_are_refused_before_the_run_directory_exists(settings, words, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ZooError, match=words):
        train(TrainConfig(**settings), run_dir=run_dir, verbose=0)
    assert not run_dir.exists()


def test_a_run_stopped_after_training_only_evaluates_when_run_again(tmp_path, monkeypatch, capsys):
    import zoo.training

    monkeypatch.chdir(tmp_path)
    config = TrainConfig(task="one_to_one", units=8, epochs=3, limit=48, patience=10)
    plot = zoo.training._plot_history

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # after fit, model.keras and trained.json: before metrics.json

    monkeypatch.setattr(zoo.training, "_plot_history", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0)
    (run_dir,) = (tmp_path / "runs" / "one_to_one").iterdir()
    assert (run_dir / "model.keras").exists() and not (run_dir / "backup").exists()
    monkeypatch.setattr(zoo.training, "_plot_history", plot)
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert train(config, verbose=0) == run_dir.relative_to(tmp_path)
    assert "evaluating the saved model" in capsys.readouterr().out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["resumed"] and metrics["train_seconds"] > 0


TINY_COMMAND = ["train", "--task", "one_to_one", "--units", "4", "--epochs", "1", "--limit", "32"]


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnn-zoo: error: ") and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("where", ["a file", "below a file", "in a read-only folder"])
def test_a_run_dir_that_cannot_be_made_is_one_line_naming_it_before_any_data_loads(
        where, tmp_path, monkeypatch, capsys):
    if where == "in a read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        blocked = tmp_path / "read_only"
        blocked.mkdir(mode=0o555)
        run_dir = blocked / "run"
    else:
        blocked = tmp_path / "file"
        blocked.write_text("not a folder")
        run_dir = blocked if where == "a file" else blocked / "run"
    monkeypatch.setattr(zoo.training, "load_data", lambda config: pytest.fail("data was loaded"))
    assert main([*TINY_COMMAND, "--run-dir", str(run_dir)]) == 2
    line = _one_line_error(capsys)
    assert f"RUN_DIR {run_dir}" in line and str(blocked) in line
    assert not (tmp_path / "read_only" / "run").exists()


def _tiny_model_file(path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.save(path)
    return path


def _flip_a_byte_of(path, member_name):
    """As a failing disk or a bad copy leaves it: the zip sound, one member's bytes not."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo(member_name)
    name_length, extra_length = np.frombuffer(data, "<u2", 2, member.header_offset + 26)
    data[member.header_offset + 30 + name_length + extra_length + member.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["garbage", "cut in half", "a flipped byte"])
def test_a_damaged_model_keras_is_a_zoo_error_naming_it(damage, tmp_path):
    path = _tiny_model_file(tmp_path / "model.keras")
    if damage == "garbage":
        path.write_bytes(b"not a model\n" * 100)
    elif damage == "cut in half":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        _flip_a_byte_of(path, "model.weights.h5")
    with pytest.raises(ZooError, match=rf"^{re.escape(str(path))} is damaged \(.+\); train again"):
        load_trained_model(path)


def test_a_sound_model_keras_loads_and_other_failures_keep_their_own_errors(tmp_path):
    path = _tiny_model_file(tmp_path / "model.keras")
    assert load_trained_model(path).get_layer("dense").units == 2
    with pytest.raises(FileNotFoundError) as missing:
        load_trained_model(tmp_path / "missing.keras")
    assert missing.value.filename == str(tmp_path / "missing.keras")
    unknown = tmp_path / "unknown_layer.keras"  # a bug, not damage: Keras' own error stays
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(unknown, "w") as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "config.json":
                content = content.replace(b'"Dense"', b'"NoSuchLayer"')
            target.writestr(member, content)
    with pytest.raises(ValueError, match="NoSuchLayer") as raised:
        load_trained_model(unknown)
    assert not isinstance(raised.value, ZooError)


def test_ctrl_c_and_then_a_damaged_model_keras_on_the_rerun_are_one_line_each(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    command = [*TINY_COMMAND, "--run-dir", str(run_dir)]
    plot = zoo.training._plot_history

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # after model.keras and trained.json: the rerun only evaluates

    monkeypatch.setattr(zoo.training, "_plot_history", killed)
    try:
        assert main(command) == 130
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C went through main")  # rather than stop the whole pytest session
    assert capsys.readouterr().err == "rnn-zoo: interrupted; run the same command again to resume\n"
    monkeypatch.setattr(zoo.training, "_plot_history", plot)
    model_file = run_dir / "model.keras"
    model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    assert main(command) == 2
    line = _one_line_error(capsys)
    assert f"{model_file} is damaged" in line and str(run_dir / "trained.json") in line
    assert not (run_dir / "metrics.json").exists()


def test_ctrl_c_in_a_training_process_is_one_line_and_exit_130(tmp_path):
    command = [sys.executable, "-u", "-m", "zoo.cli", *TINY_COMMAND, "--epochs", "100000",
               "--patience", "100000", "--run-dir", str(tmp_path / "run")]
    # A shell that started these tests in the background leaves SIGINT ignored; the child takes it back.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in process.stdout:
            if line.startswith("Starting run in"):
                break
        time.sleep(1)  # into fit
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert stderr == "rnn-zoo: interrupted; run the same command again to resume\n"


def _raising(error):
    def fail(*args, **kwargs):
        raise error

    return fail


@pytest.mark.parametrize(("error", "line"), [
    (PermissionError(errno.EACCES, "Permission denied", "runs/x/config.json"),
     "runs/x/config.json: Permission denied"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "runs/x/.a.tmp", None, "runs/x/a"),
     "runs/x/.a.tmp -> runs/x/a: Invalid cross-device link"),
    (OSError(errno.ENOSPC, "No space left on device"), "OSError: No space left on device"),
    (RuntimeError("file write failed: time = Mon Nov 23\n, filename = 'runs/x/backup/latest.weights.h5', "
                  "errno = 28, error message = 'No space left on device'"),  # as h5py words a full disk
     "file write failed: time = Mon Nov 23 , filename = 'runs/x/backup/latest.weights.h5', errno = 28, "
     "error message = 'No space left on device'"),
    (tf.errors.ResourceExhaustedError(None, None, "{{function_node __wrapped__CreateSummaryFileWriter}} "
                                      "runs/x/logs/train/events; No space left on device\n\tFlushing."),
     "runs/x/logs/train/events; No space left on device Flushing."),
])
def test_file_system_errors_met_while_training_are_one_line_naming_the_path(error, line, monkeypatch, capsys):
    monkeypatch.setattr(zoo.training, "train", _raising(error))
    assert main(TINY_COMMAND) == 2
    assert capsys.readouterr().err == f"rnn-zoo: error: {line}\n"


@pytest.mark.parametrize("error", [RuntimeError("a bug"), io.UnsupportedOperation("not writable"),
                                   KeyError("config.json")])
def test_other_errors_keep_their_traceback(error, monkeypatch):
    monkeypatch.setattr(zoo.training, "train", _raising(error))
    with pytest.raises(type(error)):
        main(TINY_COMMAND)


def test_a_write_that_fails_without_a_path_names_the_file_it_was_for(tmp_path):
    target = tmp_path / "model.keras"
    with pytest.raises(OSError) as raised, replacing(target):
        raise OSError(errno.ENOSPC, "No space left on device")  # as Keras' save meets a full disk
    assert raised.value.filename == str(target) and raised.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []
