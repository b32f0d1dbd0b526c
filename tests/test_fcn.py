"""LSTM-FCN (FCN=1): the convolutional branch never reads padding, and the two-branch model exports as
Keras computes it, fused (export.fused: Conv, the batch statistics as Mul and Add, the masked mean) and
verified in TensorFlow, ONNX Runtime, onnx.reference, LiteRT and OpenVINO."""

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import zoo
from export import export_model
from tests.served import openvino_answer
from tests.tiny import TINY, _contract
from zoo.architecture import Architecture
from zoo.config import TrainConfig, spread_ratio
from zoo.data import PAD_VALUE
from zoo.errors import ZooError


def _fcn_model(rng, cell="gru", squeeze_excite=False):
    """A many_to_one LSTM-FCN fitted one epoch on rows of different lengths (batch statistics learnt)."""
    spec, make_inputs, _ = TINY["many_to_one"]
    keras.utils.set_random_seed(0)
    model = zoo.get_task("many_to_one").build_model(spec, cell=cell, units=6, fcn=True, readout="mean",
                                                    squeeze_excite=squeeze_excite)
    x = make_inputs(rng, 16, 9)
    x[::2, 5:] = PAD_VALUE
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, spec.num_outputs, 16), epochs=1, verbose=0)
    return spec, make_inputs, model


@pytest.mark.parametrize("squeeze_excite", [False, True])
def test_padding_changes_no_answer_of_the_convolutional_branch(squeeze_excite, rng):
    spec, make_inputs, model = _fcn_model(rng, squeeze_excite=squeeze_excite)
    names = {layer.name for layer in model.layers}
    assert {"fcn_conv_1", "fcn_norm_3", "fcn_mean_over_steps", "recurrent_and_fcn"} <= names
    # MLSTM-FCN's gates after the first two blocks only.
    assert ({"fcn_squeeze_excite_1", "fcn_squeeze_excite_2"} <= names) == squeeze_excite
    assert "fcn_squeeze_excite_3" not in names
    rows = [make_inputs(rng, 1, length) for length in (3, 9, 6)]
    batch = np.full((3, 12, rows[0].shape[-1]), PAD_VALUE, "float32")
    for i, row in enumerate(rows):
        batch[i, :row.shape[1]] = row[0]
    alone = np.concatenate([model.predict(row, verbose=0) for row in rows])
    np.testing.assert_allclose(model.predict(batch, verbose=0), alone, atol=1e-5)
    # Read as anything but padding, the same steps would change the answer: the test can fail.
    filled = np.where(batch == PAD_VALUE, 0.5, batch).astype("float32")
    assert not np.allclose(model.predict(filled, verbose=0), alone, atol=1e-3)


@pytest.mark.parametrize("squeeze_excite", [False, True])
def test_an_lstm_fcn_exports_verified_in_every_runtime_that_reads_it(squeeze_excite, rng, tmp_path):
    spec, make_inputs, model = _fcn_model(rng, cell="lstm", squeeze_excite=squeeze_excite)
    source = make_inputs(rng, 6, 7)
    source[1, 4:] = PAD_VALUE
    source[2, 2:] = PAD_VALUE
    task = zoo.get_task("many_to_one")
    version = export_model(model, task, _contract(spec), source, tmp_path, "fcn")
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["verification"]["passed"] and metadata["onnx_graph"]["written_by"] == "rnn-zoo"
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference", "litert"}
    assert max(metadata["verification"]["max_abs_diff"].values()) <= 1e-5
    graph = metadata["onnx_graph"]
    assert graph["fused_recurrent_ops"] == ["LSTM"] and not graph["has_loop"]
    assert "CONV_2D" in metadata["litert"]["operators"]
    answer = openvino_answer(version / "model.onnx", source)
    if answer is not None:
        np.testing.assert_allclose(answer, model.predict(source, verbose=0), rtol=1e-5, atol=1e-5)


def test_squeeze_excite_needs_the_convolutional_branch_and_auto_reads_the_channels():
    with pytest.raises(ZooError, match="squeeze_excite gates the convolutional branch's filters: it needs"):
        Architecture(fcn=False, squeeze_excite=True)
    config = TrainConfig(task="many_to_one", squeeze_excite="auto", fcn="auto")
    for channels, kind, expected in ((3, "classification", True), (1, "classification", False),
                                     (3, "regression", False)):
        data = SimpleNamespace(spec=SimpleNamespace(input_vocab_size=None, kind=kind, num_features=channels),
                               x_train=np.zeros((4, 20, channels), "float32"))
        assert config.architecture_for(data).squeeze_excite is expected



def test_units_auto_shrinks_the_recurrent_branch_beside_the_convolutions_over_long_series():
    config = TrainConfig(task="many_to_one", units="auto", fcn="auto")
    for steps, kind, expected in ((150, "classification", 16), (24, "classification", 64),
                                  (150, "regression", 64)):
        data = SimpleNamespace(spec=SimpleNamespace(input_vocab_size=None, kind=kind, num_features=1),
                               x_train=np.zeros((4, steps, 1), "float32"))
        assert config.architecture_for(data).layer_units == (expected,)
    # A given size is kept.
    assert TrainConfig(task="many_to_one", units=32, fcn=True).architecture_for(data).layer_units == (32,)


def test_znorm_auto_reads_how_far_apart_the_series_scales_are(rng):
    """Per-series statistics where the training series' own spreads differ by more than 1,000x between
    the 10th and 90th percentile (PLAID's currents), the training statistics otherwise; padding is not
    a series' step."""
    config = TrainConfig(task="many_to_one", znorm="auto")
    series = rng.normal(size=(20, 30, 2)).astype("float32")
    series[10:, 25:] = PAD_VALUE  # padded rows: their spread is over their 25 real steps
    scattered = series * np.logspace(-4, 2, 20, dtype="float32")[:, None, None]
    scattered[10:, 25:] = PAD_VALUE
    spec = SimpleNamespace(input_vocab_size=None, kind="classification", num_features=2)
    assert spread_ratio(series) < 2 and spread_ratio(scattered) > 1000
    assert config.architecture_for(SimpleNamespace(spec=spec, x_train=series)).znorm is False
    assert config.architecture_for(SimpleNamespace(spec=spec, x_train=scattered)).znorm is True
    assert TrainConfig(task="many_to_one", znorm=False).architecture_for(
        SimpleNamespace(spec=spec, x_train=scattered)).znorm is False
