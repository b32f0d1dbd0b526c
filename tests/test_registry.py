import subprocess
import sys

import pytest

import zoo
from tests.tiny import TINY
from zoo.training import TrainConfig

TASKS = ["one_to_one", "one_to_many", "many_to_one", "seq2seq", "tagging", "forecasting"]


def test_the_five_tasks_are_registered_in_order():
    assert zoo.list_tasks() == TASKS
    for name in TASKS:
        task = zoo.get_task(name)
        assert task.name == name and task.default_dataset in task.datasets


def test_unknown_task_names_the_valid_ones():
    with pytest.raises(ValueError, match="'translate'.*one_to_one, one_to_many, many_to_one"):
        zoo.get_task("translate")


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="'mnist'.*arrow_head.*gun_point"):
        zoo.get_task("many_to_one").load("mnist")


def test_unknown_dataset_option_names_the_valid_ones():
    with pytest.raises(ValueError, match="no option seq_length.*seq_len"):
        zoo.get_task("many_to_one").load("adding", seq_length=10)


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ({"cell": "transformer"}, "'transformer'.*simple_rnn, lstm, gru"),
        ({"units": 0}, "units must be a positive integer, got 0"),
        ({"layers": -1}, "layers must be a positive integer, got -1"),
        ({"units": 2.5}, "units must be a positive integer, got 2.5"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ],
)
def test_bad_architecture_is_a_clear_error(architecture, message):
    spec = TINY["tagging"][0]
    with pytest.raises(ValueError, match=message):
        zoo.get_task("tagging").build_model(spec, **architecture)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"batch_size": -4}, "batch_size must be a positive integer, got -4"),
        ({"max_len": 0}, "max_len must be a positive integer, got 0"),
        ({"dataset": "imdb"}, "'imdb'"),
    ],
)
def test_bad_training_settings_fail_before_any_training(settings, message, tmp_path):
    from zoo.training import train

    with pytest.raises(ValueError, match=message):
        train(TrainConfig(task="many_to_one", **settings), run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "model.keras").exists()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True)


def test_cli_lists_every_task_with_its_shape_data_loss_and_metrics():
    result = _cli("tasks")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["task", "input"]
    for name, line in zip(TASKS, lines[1:]):
        assert line.startswith(name)
    assert "sequence -> one label per step" in result.stdout
    assert "sparse_categorical_crossentropy | mse" in result.stdout
    assert "exact_match" in result.stdout


def test_listing_tasks_and_presets_imports_no_tensorflow_keras_pandas_or_scikit_learn():
    """What lets `rnn-zoo tasks`, `presets` and `--help` answer at once (make bench-cli times them)."""
    heavy = ("tensorflow", "keras", "pandas", "sklearn", "aeon", "statsmodels")
    result = subprocess.run([sys.executable, "-c", "import sys; from zoo.cli import main; main(['tasks']); "
                             "main(['presets']); zoo_cells = list(__import__('zoo').CELLS); "
                             f"print('LOADED', sorted(m for m in {heavy!r} if m in sys.modules))"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout and "gun_point_bigru" in result.stdout
    assert _cli("--version").stdout.startswith("rnn-zoo ")


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    result = _cli("train", "--task", "many_to_one", "--cell", "rnn", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "rnn-zoo: error: Unknown cell 'rnn'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_train_help_names_every_cell():
    assert all(cell in _cli("train", "--help").stdout for cell in zoo.CELLS)
