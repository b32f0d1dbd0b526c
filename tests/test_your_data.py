"""Your data end to end: every format trains, exports with its data file gone, and serves strings."""

import json

import numpy as np
import pytest

from export import export_run
from serving.launch import running_server
from tests.data_files import FORMATS, write
from tests.tfserving_client import Client
from zoo.text import word_ids
from zoo.training import TrainConfig, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

# What the served answer names, per format: the strings a client gets beside the numbers.
NAMES = {"ts": "label_name", "ucr_tsv": "label_name", "text_csv": "label_name", "text_tsv": "label_name",
         "forecast_csv": None, "vectors_csv": "label_name", "conllu": "tag_names", "conll2003": "tag_names",
         "pairs_tsv": "text", "captions_jsonl": "text", "frames_jsonl": "text", "long_csv": None,
         "long_covariates_csv": None}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each format trained for one epoch, its data file deleted, then exported as model `<key>`."""
    root = tmp_path_factory.mktemp("your_data")
    runs = {}
    for key in FORMATS:
        task, path, options = write(root, key)
        run_dir = train(TrainConfig(task=task, data=str(path), epochs=1, units=4, options=options),
                        run_dir=root / "runs" / key, verbose=0)
        path.unlink()
        export_run(run_dir, root / "exports", key)
        with np.load(run_dir / "examples.npz") as examples:
            runs[key] = {name: examples[name] for name in examples.files}
    return root / "exports", runs


def test_file_trained_runs_export_with_their_data_file_deleted(exported):
    exports, _ = exported
    for key, (task, _, _, _) in FORMATS.items():
        metadata = json.loads((exports / key / "1" / "metadata.json").read_text())
        assert metadata["task"] == task and metadata["verification"]["passed"]
        text_input = metadata.get("text", {}).get("input")
        expected = "string" if text_input else metadata["id_inputs"][0]["dtype"]
        assert metadata["inputs"][0]["dtype"] == expected
        names = [o["name"] for o in metadata["outputs"]]
        assert (NAMES[key] in names) if NAMES[key] else not any(o["dtype"] == "string"
                                                               for o in metadata["outputs"])
        if NAMES[key]:
            assert metadata["verification"]["text"]["passed"]


@pytest.fixture(scope="module", params=["onnx", "savedmodel"])
def client(request, exported, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    with running_server(exported[0], request.param, log) as (base_url, _):
        yield Client(base_url)


def _rows(body):
    predictions = body["predictions"]
    if not isinstance(predictions[0], dict):  # one output: TF Serving answers its values alone
        return {"output": predictions}
    return {key: [row[key] for row in predictions] for key in predictions[0]}


def _close(left, right):
    for key, value in left.items():
        if isinstance(np.asarray(value).flat[0], str):
            assert value == right[key], key
        else:
            np.testing.assert_allclose(value, right[key], rtol=1e-5, atol=1e-5, err_msg=key)


def _named_inputs(examples, rows):
    """{input name: the first rows} of a run's held-out inputs (source, or source.<name> for each)."""
    if "source" in examples:
        return {"context": examples["source"][:rows]}
    return {key.partition(".")[2]: value[:rows] for key, value in examples.items()
            if key.startswith("source.")}


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_strings_in_and_names_out_equal_the_same_request_with_ids(client, exported, key):
    examples = exported[1][key]
    if "source" not in examples:  # named inputs: test_a_forecast_is_served_as_named_paths_over_both_protocols
        return
    source = examples["source"][:3]
    if source.dtype.kind == "i":  # token ids: trim the padding that only the longest test row needs
        source = source[:, : max(1, int(np.flatnonzero(word_ids(source).any(axis=0)).max()) + 1)]
    status, by_ids = client.predict(key, {"instances": source.tolist()})
    assert status == 200, by_ids
    by_ids = _rows(by_ids)
    if NAMES[key]:
        assert all(isinstance(v, str) for v in np.ravel(by_ids[NAMES[key]]).tolist())
    if "text" not in examples:
        return
    strings = examples["text"][:3].tolist()
    if examples["text"].ndim == 2:  # token lists: send them ragged, as a client would
        strings = [[token for token in row if token] for row in strings]
    status, by_strings = client.predict(key, {"instances": strings})
    assert status == 200, by_strings
    _close(_rows(by_strings), by_ids)
    # V2: the same strings as a BYTES tensor.
    array = np.array(examples["text"][:3].tolist())
    tensor = {"name": json.loads(json.dumps(client.call("GET", f"/v2/models/{key}")[1]))["inputs"][0]["name"],
              "shape": list(array.shape), "datatype": "BYTES", "data": array.ravel().tolist()}
    status, body = client.infer(key, {"inputs": [tensor]})
    assert status == 200, body
    v2 = {o["name"]: np.reshape(o["data"], o["shape"]).tolist() for o in body["outputs"]}
    _close(v2, by_ids)


def test_metadata_shows_a_string_input_for_text_models(client):
    status, body = client.metadata("text_csv")
    assert status == 200
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["sequence"]["dtype"] == "DT_STRING"
    assert signature["outputs"]["label_name"]["dtype"] == "DT_STRING"
    status, v2 = client.call("GET", "/v2/models/conllu")
    assert v2["inputs"][0]["datatype"] == "BYTES" and v2["inputs"][0]["shape"] == [-1, -1]


def test_a_text_model_refuses_numbers_where_strings_or_ids_belong(client):
    status, body = client.predict("text_csv", {"instances": [1.5, 2.5]})
    assert status == 400 and "error" in body
    status, body = client.predict("conllu", {"instances": ["not", "lists"]})
    assert status == 400 and "list of token strings" in body["error"]


def test_a_tagger_refuses_a_character_id_beyond_its_character_vocabulary(client, exported):
    spec = json.loads((exported[0] / "conllu" / "1" / "metadata.json").read_text())["spec"]
    word = [1, spec["character_vocab_size"]] + [0] * (spec["spelling"] - 1)
    status, body = client.predict("conllu", {"instances": [[word]]})
    assert status == 400 and f"0..{spec['character_vocab_size'] - 1} for their characters" in body["error"]
    word[1] -= 1
    status, body = client.predict("conllu", {"instances": [[word]]})
    assert status == 200, body


def test_tune_searches_your_file_and_its_best_run_exports_without_it(tmp_path):
    from tuning import TuneConfig, tune

    task, path, options = write(tmp_path, "text_csv")
    config = TuneConfig(task=task, data=str(path), max_trials=1, epochs=1, fixed={"units": 4, "layers": 1},
                        tune_dir=str(tmp_path / "tuning"), options=options)
    project = tune(config, verbose=0)
    assert project.name == "many_to_one-reviews"
    assert json.loads((project / "best_run" / "config.json").read_text())["data"] == str(path)
    path.unlink()
    version = export_run(project / "best_run", tmp_path / "exports")
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["inputs"][0]["dtype"] == "string" and metadata["verification"]["text"]["passed"]


@pytest.mark.parametrize("key", ["long_csv", "long_covariates_csv"])
def test_a_forecast_is_served_as_named_paths_over_both_protocols(client, exported, key):
    """The long table's model answers forecast, lo-80, hi-80, lo-95, hi-95 (each [batch, horizon]) in
    TF Serving REST and in V2, the same numbers both ways, the bounds in order; ONNX was verified
    against Keras in ONNX Runtime and LiteRT, and onnx.reference left out with its reason. With
    covariates it takes them as named inputs (context, future, static, calendar) in both protocols."""
    metadata = json.loads((exported[0] / key / "1" / "metadata.json").read_text())
    assert set(metadata["verification"]["max_abs_diff"]) == {"savedmodel", "onnx", "litert"}
    assert "joins the per-turn outputs of a Loop" in metadata["verification"]["onnx_reference_error"]
    names = ["lo-95", "lo-80", "forecast", "hi-80", "hi-95"]
    assert sorted(o["name"] for o in metadata["outputs"]) == sorted(names)
    inputs = _named_inputs(exported[1][key], 2)
    assert [i["name"] for i in metadata["inputs"]] == list(inputs)
    if key == "long_covariates_csv":
        assert list(inputs) == ["context", "future", "static", "calendar"]
        assert inputs["context"].shape[-1] == 3 and inputs["future"].shape[1:] == (4, 1)
    instances = [{name: value[i].tolist() for name, value in inputs.items()} for i in range(2)]
    status, body = client.predict(key, {"instances": instances if len(inputs) > 1 else
                                        inputs["context"].tolist()})
    assert status == 200, body
    rest = _rows(body)
    assert np.asarray(rest["forecast"]).shape == (2, metadata["spec"]["horizon"])
    assert np.all(np.diff(np.stack([rest[n] for n in names], -1), axis=-1) >= 0)
    tensors = [{"name": name, "shape": list(value.shape), "datatype": "FP32", "data": value.ravel().tolist()}
               for name, value in inputs.items()]
    status, body = client.infer(key, {"inputs": tensors})
    assert status == 200, body
    _close({o["name"]: np.reshape(o["data"], o["shape"]).tolist() for o in body["outputs"]}, rest)
