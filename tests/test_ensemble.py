"""ENSEMBLE=N (zoo.ensemble): members from their own initial weights, each trained by its own loss, and one
model (run and exports alike) that answers their mean."""

import json
import warnings

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from export import export_run
from tests.data_files import ts_file
from tests.served import openvino_answer
from zoo import ensemble
from zoo.config import parse_ensemble
from zoo.errors import ZooError
from zoo.training import TrainConfig, load_trained_model, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    (folder / "train.ts").write_text(ts_file(cases=40, length=14))
    # Two members of the run's architecture, and one listed with another cell and readout.
    config = TrainConfig(task="many_to_one", data=str(folder / "train.ts"), units=8, epochs=3,
                         learning_rate=1e-2, ensemble=parse_ensemble("cell=gru; cell=gru; cell=lstm "
                                                                     "readout=attention"))
    run_dir = train(config, run_dir=folder / "run", verbose=0)
    return run_dir, folder


def test_an_ensemble_run_is_one_model_answering_the_mean_of_its_members(ensemble_run):
    run_dir, _ = ensemble_run
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the saved optimizer is the one that trained every member
        model = load_trained_model(run_dir / "model.keras")
    members = [ensemble.member(model, k) for k in (1, 2, 3)]
    # Each member has its own weights (from its own initial ones), all in one flat graph.
    kernels = [m.get_layer(f"member_{k}_label").get_weights()[0] for k, m in enumerate(members, start=1)]
    assert not np.allclose(kernels[0], kernels[1]) and not np.allclose(kernels[1], kernels[2])
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    x = np.load(run_dir / "examples.npz")["source"]
    answers = [m.predict(x, verbose=0) for m in members]
    np.testing.assert_allclose(model.predict(x, verbose=0), np.mean(answers, axis=0), atol=1e-6)
    assert not np.allclose(answers[0], answers[1], atol=1e-3)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["ensemble"] == 3 and len(metrics["member_test"]) == 3
    assert set(metrics["member_test"][0]) == set(metrics["test"]) == {"accuracy", "loss"}
    # The history keeps a single model's column names: the ensemble's accuracy, the members' mean loss.
    header = (run_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert header == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]


def test_an_ensembles_export_answers_the_mean_of_its_members_in_every_runtime(ensemble_run):
    run_dir, folder = ensemble_run
    version = export_run(run_dir, folder / "exports", "ensemble")
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["verification"]["passed"] and metadata["onnx_graph"]["written_by"] == "rnn-zoo"
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference", "litert"}
    model = load_trained_model(run_dir / "model.keras")
    x = np.load(run_dir / "examples.npz")["source"]
    mean = np.mean([ensemble.member(model, k).predict(x, verbose=0) for k in (1, 2, 3)], axis=0)
    session = ort.InferenceSession(str(version / "model.onnx"))
    (answer,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(answer, mean, atol=1e-5)
    answer = openvino_answer(version / "model.onnx", x)
    if answer is not None:
        np.testing.assert_allclose(answer, mean, atol=1e-5)
    # Each member's two directions as fused nodes of their own (a masked backward direction reads each
    # row reversed): two GRU members and the listed LSTM one.
    nodes = [node.op_type for node in onnx.load(version / "model.onnx").graph.node]
    assert nodes.count("GRU") == 2 * 2 and nodes.count("LSTM") == 2


def test_each_member_is_trained_by_its_own_loss_and_the_metrics_are_the_means():
    rng = np.random.default_rng(0)
    stacked = rng.dirichlet(np.ones(4), size=(5, 3)).astype("float32")  # [batch, members, classes]
    y = rng.integers(0, 4, 5)
    loss, (accuracy,) = ensemble.member_loss_and_metrics("sparse_categorical_crossentropy", ["accuracy"])
    each = [keras.losses.SparseCategoricalCrossentropy()(y, stacked[:, k]) for k in range(3)]
    np.testing.assert_allclose(float(loss(y, stacked)), np.mean([float(v) for v in each]), rtol=1e-6)
    accuracy.update_state(y, stacked)
    assert accuracy.name == "accuracy"
    np.testing.assert_allclose(float(accuracy.result()), np.mean(stacked.mean(axis=1).argmax(-1) == y))


def test_a_task_whose_answers_cannot_be_averaged_refuses_an_ensemble():
    with pytest.raises(ZooError,
                       match=r"'seq2seq' cannot average an ensemble.*can: one_to_one, many_to_one\.$"):
        TrainConfig(task="seq2seq", ensemble=2).resolved()
    with pytest.raises(ZooError, match="ensemble must be a positive integer"):
        TrainConfig(task="many_to_one", ensemble=0).resolved()


def test_listed_members_are_read_by_each_settings_own_parser():
    assert parse_ensemble("3") == 3
    assert parse_ensemble("cell=lstm; cell=gru units=16,8 fcn=0") == [
        {"cell": "lstm"}, {"cell": "gru", "units": [16, 8], "fcn": False}]
    with pytest.raises(ValueError, match="got 'lstm'"):
        parse_ensemble("cell=gru; lstm")


def test_listed_members_are_built_to_their_own_settings(ensemble_run):
    """ENSEMBLE="cell=gru; cell=gru; cell=lstm readout=attention": member 3 its own cell and readout."""
    model = load_trained_model(ensemble_run[0] / "model.keras")
    layers = {layer.name: type(getattr(layer, "forward_layer", layer)).__name__ for layer in model.layers}
    assert [layers[f"member_{k}_birnn_1"] for k in (1, 2, 3)] == ["GRU", "GRU", "LSTM"]
    assert layers["member_3_attention_over_steps"] == "AttentionPooling"
    assert "member_1_mean_over_steps" in layers and "member_1_attention_over_steps" not in layers


def test_a_listed_member_may_change_only_what_the_tasks_architecture_reads():
    with pytest.raises(ZooError, match=r"member 2 sets 'epochs': members differ in architecture settings"):
        TrainConfig(task="many_to_one", ensemble=[{"cell": "lstm"}, {"epochs": 3}]).resolved()
    with pytest.raises(ZooError, match=r"member 1 sets 'characters'.*many_to_one takes cell, "):
        TrainConfig(task="many_to_one", ensemble=[{"characters": 8}, {}]).resolved()
    with pytest.raises(ZooError, match="Unknown cell 'lstn'"):
        TrainConfig(task="many_to_one", ensemble=[{"cell": "lstn"}, {}]).resolved()
