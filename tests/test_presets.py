"""Presets: each builds, trains a few steps and exports; listed by `rnn-zoo presets`; from_preset."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

import zoo
from export import export_run
from tests.tiny import TINY
from zoo.architecture import auto_chunk
from zoo.cli import main
from zoo.data import PAD_VALUE
from zoo.errors import ZooError
from zoo.training import TrainConfig, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

PRESETS = zoo.list_presets()


def test_every_bundled_offline_data_set_has_a_preset():
    # The TFDS sets (imdb_reviews, conll2003) download on first use: no preset is chosen on them.
    # Forecasting has none by design: its defaults follow the data's frequency and size, and its
    # bundled sets are where make bench-forecast measures them, nothing chosen on them.
    # seq2seq's generated reversal and reordering are where make bench-seq2seq measures the task's
    # defaults against a Keras attention model: no preset either.
    downloads = {"imdb_reviews", "conll2003"}
    measured = {("seq2seq", "reverse"), ("seq2seq", "reorder")}
    covered = {(zoo.get_preset(name).task, zoo.get_preset(name).dataset) for name in PRESETS}
    for task_name in set(zoo.list_tasks()) - {"forecasting"}:
        for dataset in set(zoo.get_task(task_name).datasets) - downloads:
            assert (task_name, dataset) in covered | measured
    assert not zoo.get_task("forecasting").presets


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_trains_a_few_steps_and_exports_verified(name, tmp_path):
    preset = zoo.get_preset(name)
    run_dir = train(preset.config(epochs=1, limit=24, batch_size=8), run_dir=tmp_path / name, verbose=0)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["preset"] == name and config["dataset"] == preset.dataset
    for setting, value in preset.settings.items():
        if setting != "epochs" and setting != "batch_size":
            assert config[setting] == value
    metadata = json.loads((export_run(run_dir, tmp_path / "exports", name) / "metadata.json").read_text())
    assert metadata["verification"]["passed"]
    assert metadata["onnx_graph"]["written_by"] == "rnn-zoo"  # fused recurrent nodes, not tf2onnx's loops
    if name == PRESETS[0]:  # pretrained=True loads the finished run in runs_dir/<name>, trains nothing again
        before = (run_dir / "model.keras").stat().st_mtime_ns
        model = zoo.from_preset(name, pretrained=True, runs_dir=tmp_path)
        for mine, theirs in zip(model.get_weights(), zoo.Run(run_dir).model().get_weights()):
            np.testing.assert_array_equal(mine, theirs)
        assert (run_dir / "model.keras").stat().st_mtime_ns == before
        with pytest.raises(ZooError, match="trained on its own data set"):
            zoo.from_preset(name, data="mine.ts", pretrained=True)


def test_presets_command_lists_every_preset_with_its_task_and_data_set(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in PRESETS:
        (line,) = [line for line in lines if line.startswith(name + " ")]
        preset = zoo.get_preset(name)
        assert preset.task in line and preset.dataset in line


def test_from_preset_gives_the_presets_model_compiled_and_untrained():
    name = next(n for n in PRESETS if zoo.get_preset(n).task == "many_to_one")
    preset = zoo.get_preset(name)
    model = zoo.from_preset(name)
    config = preset.config().resolved()
    recurrent = [layer for layer in model.layers if "rnn" in layer.name]
    assert len(recurrent) == config.layers
    assert model.compiled and model.optimizer.learning_rate is not None
    data = zoo.get_task("many_to_one").load(preset.dataset)
    assert model.predict(data.x_test[:2], verbose=0).shape == (2, data.spec.num_outputs)


def test_a_preset_on_your_own_file_keeps_its_architecture_and_drops_its_data_set(tmp_path):
    name = next(n for n in PRESETS if zoo.get_preset(n).task == "many_to_one")
    config = zoo.get_preset(name).config(data=str(tmp_path / "mine.ts"), seed=3)
    assert config.dataset is None and config.data.endswith("mine.ts") and config.seed == 3
    assert config.cell == zoo.get_preset(name).settings["cell"] and config.preset == name


def test_unknown_preset_and_preset_of_another_task_are_one_line_errors(capsys):
    assert main(["train", "--preset", "gunpoint"]) == 2
    assert "Unknown preset 'gunpoint'" in capsys.readouterr().err
    name = next(n for n in PRESETS if zoo.get_preset(n).task == "many_to_one")
    assert main(["train", "--preset", name, "--task", "tagging"]) == 2
    assert "is for task 'many_to_one'" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--task" in capsys.readouterr().err


@pytest.mark.parametrize(("task", "settings", "message"), [
    ("tagging", {"readout": "mean"}, "'tagging' takes no readout"),
    ("seq2seq", {"chunk": 3}, "'seq2seq' takes no chunk"),
    ("many_to_one", {"attention": "dot"}, "'many_to_one' takes no attention"),
    ("tagging", {"beam": 4}, "'tagging' generates nothing to search \\(BEAM=4\\); the tasks that do: "
     "one_to_many, seq2seq"),
    ("seq2seq", {"attention": "luong"}, "Unknown attention 'luong'; choose one of none, dot, general"),
    ("many_to_one", {"readout": "max"}, "Unknown readout 'max'; choose one of last, mean"),
    ("many_to_one", {"schedule": "linear"}, "Unknown schedule 'linear'"),
    ("many_to_one", {"clipnorm": -1.0}, "clipnorm must be a positive finite number, got -1.0"),
])
def test_settings_a_task_does_not_take_are_refused_before_training(task, settings, message, tmp_path):
    with pytest.raises(ZooError, match=message):
        train(TrainConfig(task=task, epochs=1, **settings), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_chunk_auto_reads_a_typical_series_in_at_most_16_steps_and_words_one_by_one():
    assert [auto_chunk(steps) for steps in (16, 17, 150, 251)] == [0, 2, 10, 16]
    config = TrainConfig(task="many_to_one", chunk="auto")
    series = SimpleNamespace(spec=TINY["many_to_one"][0], x_train=np.zeros((2, 150, 3)))
    words = SimpleNamespace(spec=TINY["tagging"][0], x_train=np.zeros((2, 150), "int32"))
    assert config.architecture_for(series).chunk == 10
    assert config.architecture_for(words).chunk == 0
    # Lengths of 100 to 1,344: chunks sized to the median (320 steps), not to the longest.
    ragged = np.full((9, 1344, 1), PAD_VALUE, "float32")
    for row, length in enumerate([100, 200, 300, 310, 320, 330, 340, 900, 1344]):
        ragged[row, :length] = 1.0
    assert config.architecture_for(SimpleNamespace(spec=TINY["many_to_one"][0], x_train=ragged)).chunk == 20


def test_fcn_auto_adds_the_convolutional_branch_for_classes_of_series_only():
    from dataclasses import replace

    defaults = TrainConfig(task="many_to_one").resolved()  # a file of your own: the task's defaults
    assert defaults.fcn == "auto"
    classes = SimpleNamespace(spec=TINY["many_to_one"][0], x_train=np.zeros((2, 150, 3)))
    values = SimpleNamespace(spec=replace(TINY["many_to_one"][0], kind="regression"), x_train=classes.x_train)
    words = SimpleNamespace(spec=TINY["tagging"][0], x_train=np.zeros((2, 150), "int32"))
    assert [defaults.architecture_for(d).fcn for d in (classes, values, words)] == [True, False, False]
    with pytest.raises(ZooError, match="'tagging' takes no chunk"):
        TrainConfig(task="tagging", chunk="auto")


@pytest.mark.parametrize("dataset", ["gun_point", "italy_power_demand", "arrow_head", "basic_motions",
                                     "japanese_vowels"])
def test_each_archive_preset_is_the_tasks_defaults_as_its_data_sizes_them(dataset):
    """make search-presets found no earlier candidate above the defaults, and a tie goes to them: the
    preset pins what the defaults' "auto" fields come to on its own data."""
    from zoo.presets import get_preset

    preset = get_preset(f"{dataset}_bigru").config().resolved()
    defaults = TrainConfig(task="many_to_one", dataset=dataset).resolved()
    data = zoo.get_task("many_to_one").load(dataset, seed=42)
    assert preset.architecture == defaults.architecture_for(data)
    assert preset.architecture.fcn is True and "auto" not in (preset.units, preset.chunk, preset.fcn)
    for name in ("epochs", "schedule", "learning_rate", "batch_size"):
        assert getattr(preset, name) == getattr(defaults, name)
