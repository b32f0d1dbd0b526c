"""Exports: SavedModel and ONNX that compute what Keras computes, published only when complete."""

import fcntl
import itertools
import json
import os
import stat
import subprocess
import sys

import keras
import numpy as np
import onnx
import onnxruntime
import pytest

import zoo
from export import ExportError, export_model, export_run
from export.fused import Unsupported
from export.layout import publish, sha256_of, staged_version, versions
from tests.architectures import MATRIX
from tests.served import keras_outputs, openvino_answer
from tests.tiny import OUTPUT_VOCABULARY, TINY, tiny_trained
from zoo.data import PAD_ID, PAD_VALUE, Vocabulary
from zoo.decoding import decoder
from zoo.errors import ZooError
from zoo.training import TrainConfig, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it


@pytest.mark.parametrize(("task_name", "cell", "bidirectional", "layers"), MATRIX)
def test_every_architecture_exports_and_matches_keras(task_name, cell, bidirectional, layers,
                                                      architecture_exports):
    exported = architecture_exports.get(task_name, cell, bidirectional, layers)
    task, version_dir = exported.task, exported.version_dir
    assert version_dir.name == "1"
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["verification"]["passed"]
    # Keras' answer in TensorFlow, ONNX Runtime, the ONNX reference evaluator and LiteRT.
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference", "litert"}
    assert max(metadata["verification"]["max_abs_diff"].values()) <= 1e-5
    assert metadata["verification"]["onnx_reference_error"] is None
    _assert_litert(version_dir, metadata["litert"])
    (model_input,) = metadata["inputs"]
    assert model_input["shape"][0] is None
    if task_name in ("many_to_one", "seq2seq", "tagging"):
        assert model_input["shape"][1] is None  # time is dynamic
    for name in ("saved_model.pb", "model.onnx", "variables/variables.index"):
        assert metadata["sha256"][name]
    masked = task_name in ("many_to_one", "seq2seq", "tagging")  # the tasks that read a sequence
    _assert_graph(metadata["onnx_graph"], task, cell, masked)
    _assert_lowest_ir_version(version_dir / "model.onnx")
    # One step at a time with the states carried, each runtime answers what the whole sequence does.
    streaming = metadata["streaming"]
    if task.streams and not bidirectional:
        assert set(streaming["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference",
                                                                   "litert"}
        assert metadata["sha256"]["step.onnx"] and metadata["litert"]["step_signature_name"] == "step"
        assert streaming["onnx_written_by"] == "rnn-zoo"  # one fused node per recurrent layer
    else:
        assert streaming["onnx"] is None and streaming["unsupported"]
        assert "step.onnx" not in metadata["sha256"]


@pytest.mark.parametrize(("task_name", "cell", "bidirectional", "readout", "chunk"), [
    ("many_to_one", "gru", True, "mean", 3),  # a chunk filled up with zeros: 7 steps in chunks of 3
    ("many_to_one", "lstm", False, "mean", 0),
    ("many_to_one", "simple_rnn", True, "last", 2),
    ("many_to_one", "lstm", True, "attention", 2),  # the softmax over the real steps only
    ("many_to_one", "gru", True, "mean", -3),  # a learnt strided convolution for chunks of 3
    ("one_to_one", "gru", False, "last", 2),  # 3 features read as 2 steps
    ("one_to_many", "lstm", True, "last", 2),  # a recurrent encoder over the vector starts the decoder
])
def test_readouts_and_chunks_export_fused_and_match_keras(task_name, cell, bidirectional, readout, chunk,
                                                          rng, tmp_path):
    architecture = {"readout": readout} if task_name == "many_to_one" else {}
    if chunk < 0:  # chunks of -chunk made by StridedConv1D
        chunk, architecture = -chunk, {**architecture, "front_end": "conv"}
    task, model, contract, source = tiny_trained(task_name, rng, cell=cell, bidirectional=bidirectional,
                                                 chunk=chunk, **architecture)
    version = export_model(model, task, contract, source, tmp_path, "m")
    metadata = json.loads((version / "metadata.json").read_text())
    _assert_openvino(version, task, model, source)
    assert metadata["onnx_graph"]["written_by"] == "rnn-zoo"  # fused, not tf2onnx's Loop
    assert max(metadata["verification"]["max_abs_diff"].values()) <= 1e-5
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference", "litert"}


@pytest.mark.parametrize(("cell", "bidirectional", "layers", "attention"), [
    ("lstm", True, 2, "dot"), ("gru", False, 1, "additive"), ("simple_rnn", True, 1, "general")])
def test_attention_decoders_export_fused_and_match_keras(cell, bidirectional, layers, attention, rng,
                                                         tmp_path):
    """ATTENTION= (zoo.layers.SourceAttention) in the decoding loop of fused nodes: the same tokens as
    Keras' greedy decoding in ONNX Runtime, onnx.reference, OpenVINO, LiteRT and the SavedModel, padded
    sources included."""
    task, model, contract, source = tiny_trained("seq2seq", rng, cell=cell, bidirectional=bidirectional,
                                                 layers=layers, attention=attention)
    version = export_model(model, task, contract, source, tmp_path, "m")
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["onnx_graph"]["written_by"] == "rnn-zoo" and metadata["onnx_graph"]["has_loop"]
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference", "litert"}
    assert max(metadata["verification"]["max_abs_diff"].values()) == 0  # token ids
    ((_, keras_ids),) = keras_outputs(task, model, contract, source).items()
    answer = openvino_answer(version / "model.onnx", source)
    if answer is not None:
        np.testing.assert_array_equal(answer, keras_ids)


def test_z_normalised_series_export_fused_and_match_keras(rng, tmp_path):
    """ZNORM=1 (zoo.layers.SeriesStandardize): the means and spreads over the real steps, as plain ops."""
    task, model, contract, source = tiny_trained("many_to_one", rng, cell="gru", znorm=True, readout="mean")
    version = export_model(model, task, contract, source, tmp_path, "m")
    metadata = json.loads((version / "metadata.json").read_text())
    _assert_openvino(version, task, model, source)
    assert metadata["onnx_graph"]["written_by"] == "rnn-zoo"
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "onnx_reference", "litert"}
    assert max(metadata["verification"]["max_abs_diff"].values()) <= 1e-5


def _assert_openvino(version, task, model, source):
    """OpenVINO reads model.onnx and gives Keras' answer, padded rows included (a generating task's
    greedy decoder graph is checked in tests/test_openvino.py)."""
    answer = None if task.generates else openvino_answer(version / "model.onnx", source)
    if answer is not None:
        np.testing.assert_allclose(answer, model.predict(source, verbose=0), rtol=1e-5, atol=1e-5)


def _assert_litert(version_dir, litert):
    """model.tflite uses LiteRT's built-in operators only (no Flex or custom ones), with one signature."""
    assert litert["file"] == "model.tflite" and (version_dir / "model.tflite").is_file()
    assert "WHILE" in litert["operators"] and not {"CUSTOM", "DELEGATE"} & set(litert["operators"])
    assert litert["signature_name"] == "serving_default"


def _assert_lowest_ir_version(path):
    """Stamped with the lowest IR version its opsets need (8 for opset 17), which older runtimes load."""
    onnx_model = onnx.load(path)
    assert onnx_model.ir_version == 8 == onnx.helper.find_min_ir_version_for(list(onnx_model.opset_import))


# The fused node each cell's layers become (export.fused); SimpleRNN has a Scan beside it for many rows.
FUSED_OPS = {"lstm": ["LSTM"], "gru": ["GRU"], "simple_rnn": ["RNN"]}


def _assert_graph(graph, task, cell, masked):
    assert graph["written_by"] == "rnn-zoo"
    assert graph["fused_recurrent_ops"] == FUSED_OPS[cell]
    assert graph["has_loop"] == task.generates  # greedy decoding's own loop, no per-step one for a layer
    # one_to_many's only recurrent layers are its decoder's, one step per turn of the decoding loop.
    assert graph["has_scan"] == (cell == "simple_rnn" and task.name != "one_to_many")
    assert graph["right_padding_only"] == masked
    # Padding is read from the mask by plain ops, never by sequence_lens, which some runtimes ignore.
    assert not graph["reads_sequence_lens"] and "runtimes_known_wrong" not in graph


def _unmasked_model(cell, bidirectional, layers, return_sequences):
    inputs = keras.Input(shape=(None, 3), name="sequence")
    x = inputs
    for depth in range(layers):
        # 16 units: SimpleRNN takes its fused node up to batch 16 and its Scan above (both verified).
        layer = zoo.CELLS[cell](16, return_sequences=return_sequences or depth < layers - 1)
        x = keras.layers.Bidirectional(layer)(x) if bidirectional else layer(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="label")(x))


@pytest.mark.parametrize(("cell", "bidirectional", "layers", "return_sequences"),
                         itertools.product(zoo.CELLS, (False, True), (1, 2), (False, True)))
def test_unmasked_models_get_fused_nodes_and_match_keras(cell, bidirectional, layers, return_sequences, rng,
                                                          tmp_path):
    model = _unmasked_model(cell, bidirectional, layers, return_sequences)
    for weight in model.weights:  # larger than initial weights, so that a wrong gate order shows
        weight.assign(rng.normal(scale=0.5, size=weight.shape))
    contract = {"spec": {}, "output_vocabulary": None, "labels": None}
    examples = rng.normal(size=(32, 9, 3)).astype("float32")
    version_dir = export_model(model, zoo.get_task("many_to_one"), contract, examples, tmp_path, "m")
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["verification"]["passed"]
    _assert_graph(metadata["onnx_graph"], zoo.get_task("many_to_one"), cell, masked=False)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gru_without_reset_after_becomes_a_gru_node_too(bidirectional, rng, tmp_path):
    inputs = keras.Input(shape=(None, 3), name="sequence")
    layer = keras.layers.GRU(8, reset_after=False, return_sequences=True)
    x = keras.layers.Bidirectional(layer)(inputs) if bidirectional else layer(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="label")(x))
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))
    contract = {"spec": {}, "output_vocabulary": None, "labels": None}
    examples = rng.normal(size=(4, 5, 3)).astype("float32")
    version_dir = export_model(model, zoo.get_task("tagging"), contract, examples, tmp_path, "m")
    graph = json.loads((version_dir / "metadata.json").read_text())["onnx_graph"]
    assert graph["written_by"] == "rnn-zoo" and graph["fused_recurrent_ops"] == ["GRU"]


def test_a_model_the_writer_does_not_know_is_converted_by_tf2onnx(rng, tmp_path):
    inputs = keras.Input(shape=(None, 3), name="sequence")
    steps = keras.layers.GRU(4, return_sequences=True)(inputs)
    last, mean = keras.layers.GRU(4)(steps), keras.layers.GlobalAveragePooling1D()(steps)
    # Branches joined by Concatenate are written (tests/test_fcn.py); a layer normalisation is not.
    pooled = keras.layers.LayerNormalization()(keras.layers.Concatenate()([last, mean]))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="label")(pooled))
    contract = {"spec": {}, "output_vocabulary": None, "labels": None}
    examples = rng.normal(size=(4, 5, 3)).astype("float32")
    version_dir = export_model(model, zoo.get_task("many_to_one"), contract, examples, tmp_path, "m")
    graph = json.loads((version_dir / "metadata.json").read_text())["onnx_graph"]
    assert graph["written_by"] == "tf2onnx" and not graph["right_padding_only"]
    _assert_lowest_ir_version(version_dir / "model.onnx")


def test_a_model_litert_cannot_express_is_exported_without_model_tflite_and_says_why(rng, tmp_path,
                                                                                     monkeypatch):
    import export.artifacts

    reason = "the TFLite converter refused it: 'tf.Erfinv' op is neither a custom op nor a flex op"

    def refuse(*args):
        raise Unsupported(reason)

    monkeypatch.setattr(export.artifacts, "tflite_model", refuse)
    task, model, contract, source = tiny_trained("many_to_one", rng)
    version_dir = export_model(model, task, contract, source, tmp_path, "m")
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["litert"] == {"file": None, "unsupported": reason}
    assert not (version_dir / "model.tflite").exists() and "model.tflite" not in metadata["sha256"]
    assert "litert" not in metadata["verification"]["max_abs_diff"]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_masked_simple_rnn_matches_keras_in_both_of_its_graphs(bidirectional, rng, tmp_path):
    task = zoo.get_task("tagging")
    spec, make_inputs, _ = TINY["tagging"]
    model = task.build_model(spec, cell="simple_rnn", units=16, bidirectional=bidirectional)
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))
    source = make_inputs(rng, 32, 9)
    source[1, 4:] = source[2, 1:] = source[3, :] = PAD_ID  # short rows, and one all padding
    contract = {"spec": {}, "output_vocabulary": None, "labels": None, "pad_value": PAD_ID}
    version_dir = export_model(model, task, contract, source, tmp_path, "m")  # batches of 32 and 1
    assert json.loads((version_dir / "metadata.json").read_text())["verification"]["passed"]


def _not_right_padded(task_name, cell, rng, tmp_path):
    """Keras' and ONNX's answers for 3 rows: padded first, with a hole, and right-padded."""
    task, model, contract, source = tiny_trained(task_name, rng, cell=cell, bidirectional=True)
    version_dir = export_model(model, task, contract, source, tmp_path, "m")
    holes = source[:3].copy()
    holes[0, :2] = PAD_ID  # left padding
    holes[1, 1] = PAD_ID  # a hole (row 1 is padded from step 4)
    session = onnxruntime.InferenceSession(str(version_dir / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {model.inputs[0].name: holes})
    if task.generates:
        decode = decoder(model, Vocabulary(tuple(OUTPUT_VOCABULARY)), contract["spec"]["max_output_len"])
        return decode(holes).numpy(), onnx_out
    return model(holes, training=False).numpy(), onnx_out


@pytest.mark.parametrize("cell", zoo.CELLS)
def test_masks_that_are_not_right_padding_never_give_silent_answers(cell, rng, tmp_path):
    keras_out, onnx_out = _not_right_padded("tagging", cell, rng, tmp_path)
    np.testing.assert_allclose(onnx_out[2], keras_out[2], rtol=1e-5, atol=1e-5)  # right-padded row
    assert np.isnan(onnx_out[:2]).all()  # sequence_lens cannot say these: NaN, never a plausible answer


def test_a_generated_answer_to_a_source_not_right_padded_is_minus_ones(rng, tmp_path):
    keras_out, onnx_out = _not_right_padded("seq2seq", "gru", rng, tmp_path)
    np.testing.assert_array_equal(onnx_out[2], keras_out[2])
    assert (onnx_out[:2] == -1).all()  # no token has that id


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished tiny runs: variable-length series (masking) and a generating task."""
    root = tmp_path_factory.mktemp("runs")
    settings = {"units": 8, "epochs": 1, "limit": 40}
    return {
        "japanese_vowels": train(TrainConfig("many_to_one", dataset="japanese_vowels", **settings),
                                 run_dir=root / "jv", verbose=0),
        "seq2seq": train(TrainConfig("seq2seq", **settings), run_dir=root / "s2s", verbose=0),
    }


def test_export_run_writes_tf_serving_layout_with_metadata(runs, tmp_path):
    version_dir = export_run(runs["japanese_vowels"], tmp_path)
    assert version_dir == tmp_path / "many_to_one" / "1"
    assert (version_dir / "saved_model.pb").is_file() and (version_dir / "variables").is_dir()
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["task"] == "many_to_one" and metadata["dataset"] == "japanese_vowels"
    assert metadata["inputs"] == [{"name": "sequence", "dtype": "float32", "shape": [None, None, 12]}]
    assert metadata["outputs"] == [{"name": "label", "dtype": "float32", "shape": [None, 9]}]
    assert metadata["pad_value"] == PAD_VALUE and len(metadata["labels"]) == 9
    run_metrics = json.loads((runs["japanese_vowels"] / "metrics.json").read_text())
    assert metadata["test_metrics"] == run_metrics["test"]
    assert set(metadata["versions"]) >= {"tensorflow", "keras", "tf2onnx", "onnx", "onnx_opset",
                                         "onnx_ir_version"}
    import hashlib
    for name, digest in metadata["sha256"].items():
        assert hashlib.sha256((version_dir / name).read_bytes()).hexdigest() == digest
    # Several lengths were checked, the example alone at its own length among them.
    assert len({shape[1] for shape in metadata["verification"]["batches"]}) >= 3


def test_versions_count_up_and_ignore_other_folders(runs, tmp_path):
    (tmp_path / "seq2seq" / "latest").mkdir(parents=True)
    (tmp_path / "seq2seq" / "9x").mkdir()
    assert export_run(runs["seq2seq"], tmp_path).name == "1"
    assert export_run(runs["seq2seq"], tmp_path).name == "2"
    assert export_run(runs["seq2seq"], tmp_path, name="adder").parent.name == "adder"
    assert versions(tmp_path / "seq2seq") == [1, 2]


def test_exported_artifacts_run_without_the_project(runs, tmp_path):
    """SavedModel by plain TensorFlow, ONNX by plain onnxruntime, in a process without `zoo`."""
    version_dir = export_run(runs["seq2seq"], tmp_path)
    script = """
import sys, numpy as np, onnxruntime, tensorflow as tf
source = np.array([[2, 3, 11, 4, 0], [9, 11, 9, 9, 10]], dtype=np.int32)  # "12+3", "8+889"
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
saved = serve(source=tf.constant(source))["token_ids"].numpy()
session = onnxruntime.InferenceSession(sys.argv[1] + "/model.onnx")
onnx = session.run(["token_ids"], {"source": source})[0]
assert np.array_equal(saved, onnx), (saved, onnx)
assert saved.shape == (2, 5) and saved.dtype == np.int32
assert not any(m == "zoo" or m.startswith("zoo.") or m.startswith("export") for m in sys.modules)
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script, str(version_dir)], capture_output=True,
                            text=True, cwd="/", check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_an_interrupted_export_leaves_no_version_directory(runs, tmp_path, monkeypatch):
    import onnx

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx, "save", interrupted)  # mid-export: the SavedModel is written, ONNX not
    with pytest.raises(KeyboardInterrupt):
        export_run(runs["japanese_vowels"], tmp_path)
    assert not (tmp_path / "many_to_one").exists()
    # Where earlier versions stand, they stay, and no new one appears.
    (tmp_path / "many_to_one" / "1").mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt):
        export_run(runs["japanese_vowels"], tmp_path)
    assert [p.name for p in (tmp_path / "many_to_one").iterdir()] == ["1"]


def test_exports_started_together_publish_two_complete_versions(runs, tmp_path):
    command = [sys.executable, "-m", "zoo.cli", "export", "--run-dir", str(runs["japanese_vowels"]),
               "--export-dir", str(tmp_path)]
    exports = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for export in exports:
        _, stderr = export.communicate(timeout=600)
        assert export.returncode == 0, stderr[-3000:]
    root = tmp_path / "many_to_one"
    assert sorted(p.name for p in root.iterdir()) == ["1", "2"]  # no staging folder left either
    for version in (1, 2):
        metadata = json.loads((root / str(version) / "metadata.json").read_text())
        assert metadata["version"] == version
        for name, digest in metadata["sha256"].items():
            assert sha256_of(root / str(version) / name) == digest


def test_a_version_number_taken_while_publishing_goes_to_the_next_one(tmp_path):
    def write_numbered(version):
        if version == 1:  # another export publishes 1 between this one's choice and its rename
            (tmp_path / "m" / "1").mkdir()
            (tmp_path / "m" / "1" / "metadata.json").write_text("theirs")
        (staging / "metadata.json").write_text(str(version))

    with staged_version(tmp_path / "m") as staging:
        assert publish(staging, write_numbered) == tmp_path / "m" / "2"
    assert (tmp_path / "m" / "1" / "metadata.json").read_text() == "theirs"
    assert (tmp_path / "m" / "2" / "metadata.json").read_text() == "2"
    assert versions(tmp_path / "m") == [1, 2] and len(list((tmp_path / "m").iterdir())) == 2


def test_an_export_removes_killed_exports_staging_folders_but_not_running_ones(runs, tmp_path):
    root = tmp_path / "many_to_one"
    killed = root / ".staging-1-x7kq2m"  # as an export killed with -9 leaves it: no lock held
    (killed / "variables").mkdir(parents=True)
    (killed / "saved_model.pb").write_bytes(b"half")
    running = root / ".staging-c4f9zz"
    running.mkdir()
    handle = os.open(running, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as the export writing into it holds it
        assert export_run(runs["japanese_vowels"], tmp_path) == root / "1"
        assert not killed.exists() and running.is_dir()
    finally:
        os.close(handle)


def test_published_versions_are_readable_by_other_users_whatever_the_umask(runs, tmp_path):
    umask = os.umask(0o077)
    try:
        version_dir = export_run(runs["japanese_vowels"], tmp_path / "exports")
    finally:
        os.umask(umask)
    inside = list(version_dir.rglob("*"))
    folders = [tmp_path / "exports", version_dir.parent, version_dir, *(p for p in inside if p.is_dir())]
    files = [p for p in inside if p.is_file()]
    assert "metadata.json" in {p.name for p in files} and len(folders) > 3
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {"0o755"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o644"}


def test_an_export_that_differs_from_keras_is_not_published(runs, tmp_path, monkeypatch):
    import export.verify

    monkeypatch.setattr(export.verify, "TOLERANCE", -1.0)  # no difference is small enough
    with pytest.raises(ExportError, match="verification failed.*differs from Keras"):
        export_run(runs["japanese_vowels"], tmp_path)
    assert not (tmp_path / "many_to_one").exists()


def test_missing_unfinished_or_corrupt_runs_are_clear_errors(runs, tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export_run(tmp_path / "nowhere", tmp_path / "exports")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "data.json", "metrics.json"):
        (broken / name).write_bytes((runs["seq2seq"] / name).read_bytes())
    with pytest.raises(ExportError, match="has no model.keras"):
        export_run(broken, tmp_path / "exports")
    (broken / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(ExportError, match="has no examples.npz"):
        export_run(broken, tmp_path / "exports")
    (broken / "examples.npz").write_bytes((runs["seq2seq"] / "examples.npz").read_bytes())
    with pytest.raises(ZooError, match=r"model\.keras is damaged"):
        export_run(broken, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_cli_export_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "export", "--run-dir", str(tmp_path / "x")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_reloaded_keras_model_matches_the_export_on_padded_input(runs, tmp_path):
    version_dir = export_run(runs["japanese_vowels"], tmp_path)
    import onnxruntime

    model = keras.saving.load_model(runs["japanese_vowels"] / "model.keras")
    rng = np.random.default_rng(3)
    batch = rng.normal(size=(3, 9, 12)).astype("float32")
    batch[0, 5:] = PAD_VALUE
    session = onnxruntime.InferenceSession(str(version_dir / "model.onnx"))
    np.testing.assert_allclose(session.run(["label"], {"sequence": batch})[0],
                               model.predict(batch, verbose=0), rtol=1e-5, atol=1e-5)


def test_export_runs_no_data_loader(runs, tmp_path, monkeypatch):
    def no_loading(**options):
        raise AssertionError("export ran a data loader")

    monkeypatch.setitem(zoo.get_task("seq2seq").datasets, "addition", no_loading)
    version_dir = export_run(runs["seq2seq"], tmp_path)
    assert json.loads((version_dir / "metadata.json").read_text())["verification"]["passed"]
