"""Settings from one place: TrainConfig's fields give the CLI flags, the Makefile's variables and the
names presets take; BIDIRECTIONAL=0 switches a bidirectional default off."""

import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from zoo.cli import SETTINGS, _parser, main, train_config
from zoo.config import TrainConfig, flag_name

ROOT = Path(__file__).resolve().parents[1]


def _train(*argv):
    return train_config(_parser().parse_args(["train", *argv])).resolved()


def _make_train(*variables):
    """The arguments `make train` gives rnn-zoo train, with this interpreter's venv."""
    result = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "train", f"VENV={sys.prefix}", *variables],
                            capture_output=True, text=True, check=True)
    (line,) = result.stdout.strip().splitlines()
    words = shlex.split(line)
    return words[words.index("train") + 1:]


def test_no_bidirectional_switches_off_a_task_default_that_is_bidirectional():
    assert _train("--task", "many_to_one").bidirectional is True
    assert _train("--task", "many_to_one", "--no-bidirectional").bidirectional is False
    assert _train("--task", "one_to_one", "--bidirectional").bidirectional is True


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("1", True), ("no", False), ("true", True)])
def test_make_passes_bidirectional_either_way(value, expected):
    argv = _make_train("TASK=many_to_one", f"BIDIRECTIONAL={value}")
    assert _train(*argv).bidirectional is expected


def test_make_bidirectional_0_switches_a_bidirectional_preset_off():
    assert _train(*_make_train("PRESET=gun_point_bigru")).bidirectional is True
    config = _train(*_make_train("PRESET=gun_point_bigru", "BIDIRECTIONAL=0"))
    assert config.bidirectional is False and config.preset == "gun_point_bigru" and config.cell == "gru"


def test_make_variables_reach_the_config_as_the_flags_give_them():
    argv = _make_train("TASK=many_to_one", "EPOCHS=3", "LAYERS=2", "UNITS=128,64", "CHUNK=auto",
                       "OPTIONS=a=1 b=x", "BUCKETING=0", "JIT_COMPILE=1", "DATASET=adding", "LIMIT=8")
    config = train_config(_parser().parse_args(["train", *argv]))
    assert (config.epochs, config.units, config.chunk, config.options, config.bucketing, config.jit_compile,
            config.dataset, config.limit) == (3, [128, 64], "auto", {"a": 1, "b": "x"}, False, True,
                                              "adding", 8)
    flags = train_config(_parser().parse_args([
        "train", "--task", "many_to_one", "--epochs", "3", "--layers", "2", "--units", "128,64",
        "--chunk", "auto", "--option", "a=1", "--option", "b=x", "--no-bucketing", "--jit-compile",
        "--dataset", "adding", "--limit", "8"]))
    assert flags == config
    assert _make_train("TASK=many_to_one") == ["--task", "many_to_one"]  # nothing given, nothing passed


def test_every_setting_has_a_flag_a_make_variable_and_a_preset_name(capsys):
    train = _parser()._subparsers._group_actions[0].choices["train"]
    flags = {option: action for action in train._actions for option in action.option_strings}
    for setting in fields(TrainConfig):
        action = flags[flag_name(setting)]
        assert action.dest == setting.name and action.help == setting.metadata["help"]
        if setting.type in (bool, bool | None):
            assert f"--no-{setting.name.replace('_', '-')}" in flags
    assert main(["settings", "train"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == [f.name.upper() for f in fields(TrainConfig) if f.name not in ("task", "preset")]
    assert set(SETTINGS["tune"]) <= set(SETTINGS["train"])


def test_a_bad_setting_is_an_argparse_error_that_names_it(capsys):
    for argv, message in ((["--setting", "NOPE=1"], "NAME one of TASK, PRESET, DATASET"),
                          (["--setting", "BIDIRECTIONAL=maybe"], "invalid BIDIRECTIONAL value: 'maybe'"),
                          (["--setting", "UNITS=12,x"], "invalid UNITS value: '12,x'")):
        with pytest.raises(SystemExit):
            _parser().parse_args(["train", "--task", "many_to_one", *argv])
        assert message in capsys.readouterr().err


def test_tune_fixes_the_searched_settings_it_is_given(monkeypatch):
    import tuning

    configs = []
    monkeypatch.setattr(tuning, "tune", configs.append)
    assert main(["tune", "--task", "many_to_one", "--no-bidirectional", "--units", "16,8", "--layers", "2",
                 "--setting", "PATIENCE=2", "--epochs", "3", "--option", "a=1"]) == 0
    (config,) = configs
    assert config.fixed == {"bidirectional": False, "layers": 2, "units": [16, 8]}
    assert (config.task, config.patience, config.epochs, config.options, config.seed) == \
        ("many_to_one", 2, 3, {"a": 1}, 42)


def test_the_cli_and_its_settings_load_no_tensorflow():
    code = ("import sys, zoo.cli, zoo.config; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'heavy'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
