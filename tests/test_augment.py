"""AUGMENT (zoo.augment): training series changed at random, padding kept, the saved model untouched."""

import json

import numpy as np
import pytest

from tests.data_files import ts_file
from zoo.augment import SeriesAugment, parse_augment
from zoo.data import PAD_VALUE
from zoo.errors import ZooError
from zoo.training import TrainConfig, load_trained_model, train


def _series():
    x = np.random.default_rng(0).normal(size=(4, 20, 2)).astype("float32")
    x[0, 12:] = PAD_VALUE
    x[1, 19:] = PAD_VALUE
    return x


def test_jitter_and_scaling_change_real_steps_only_and_only_in_training():
    x = _series()
    layer = SeriesAugment(["jitter", "scaling"], [0.0, 0.0], [1.0, 1.0], PAD_VALUE, seed=1)
    y = np.asarray(layer(x, training=True))
    padded = (x == PAD_VALUE).all(-1)
    assert (y[padded] == PAD_VALUE).all() and not np.isclose(y[~padded], x[~padded]).any()
    # Scaling: one factor per series and channel, about 1 (sd 0.1); jitter: noise of sd 0.03.
    ratio = y[2] / x[2]
    assert np.abs(np.median(ratio, axis=0) - 1).max() < 0.4
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_window_slicing_keeps_a_window_of_90_percent_of_each_series_moved_to_its_start():
    x = _series()
    layer = SeriesAugment(["slicing"], [0.0, 0.0], [1.0, 1.0], PAD_VALUE, seed=3)
    for _ in range(3):
        y = np.asarray(layer(x, training=True))
        for row, length in zip(range(4), (12, 19, 20, 20), strict=True):
            width = int(np.ceil(0.9 * length))
            assert (y[row, width:] == PAD_VALUE).all() and (y[row, :width] != PAD_VALUE).all()
            start = int(np.flatnonzero(x[row, :, 0] == y[row, 0, 0])[0])
            assert start + width <= length
            np.testing.assert_array_equal(y[row, :width], x[row, start:start + width])


@pytest.mark.slow
def test_an_augmented_run_trains_and_saves_the_model_without_its_augmentation(tmp_path):
    (tmp_path / "train.ts").write_text(ts_file(cases=30, length=12))
    config = TrainConfig(task="many_to_one", data=str(tmp_path / "train.ts"), units=8, epochs=2,
                         augment=parse_augment("jitter,scaling,slicing"))
    run_dir = train(config, run_dir=tmp_path / "run", verbose=0)
    model = load_trained_model(run_dir / "model.keras")
    assert not any(isinstance(layer, SeriesAugment) for layer in model.layers)
    assert json.loads((run_dir / "config.json").read_text())["augment"] == "jitter,scaling,slicing"
    x = np.load(run_dir / "examples.npz")["source"]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_augment_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="unknown augmentation 'warp'; choose from jitter, scaling, slicing"):
        parse_augment("jitter,warp")
    assert parse_augment("none") == ""
    with pytest.raises(ZooError, match=r"'tagging' takes no AUGMENT.*the tasks that do: many_to_one\.$"):
        TrainConfig(task="tagging", augment="jitter").resolved()
