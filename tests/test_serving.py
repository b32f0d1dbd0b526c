"""`rnn-zoo serve`: TF Serving's REST API and KServe V2 over exports, checked from a plain HTTP client.

Each runtime gets a real server in a subprocess on 127.0.0.1, stopped by its own process id.
"""

import ast
import itertools
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from export import export_model
from serving.launch import running_server
from serving.repository import ExportRepository, ServableNotFound
from serving.runtimes import TOKEN_STRINGS
from tests.served import MODELS, keras_outputs
from tests.tfserving_client import Client
from tests.tiny import FEATURES, VOCAB, tiny_trained
from zoo.data import Vocabulary

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

POLL_SECONDS = 0.2
MAX_BODY_MB = 1


@pytest.fixture(scope="module", params=["onnx", "savedmodel"])
def server(request, exports, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    extra = ("--poll-seconds", POLL_SECONDS, "--max-body-mb", MAX_BODY_MB)
    with running_server(exports[0], request.param, log, extra) as (base_url, process):
        yield Client(base_url), process
    assert process.returncode is not None  # stopped by its pid


def _outputs_match(got, expected):
    for name, want in expected.items():
        value = np.asarray(got[name])
        assert value.shape == want.shape, name
        if want.dtype.kind == "i":
            assert np.array_equal(value, want), name
        else:
            np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_binds_only_loopback_http_and_no_grpc(server):
    _, process = server
    listening = [c.laddr.ip for c in psutil.net_connections(kind="inet")
                 if c.pid == process.pid and c.status == psutil.CONN_LISTEN]
    assert listening == ["127.0.0.1"]


def test_onnx_server_runs_without_tensorflow(server):
    _, process = server
    runtime = process.args[process.args.index("--runtime") + 1]
    libraries = {Path(m.path).name for m in psutil.Process(process.pid).memory_maps()}
    assert any("tensorflow" in name for name in libraries) == (runtime == "savedmodel")


def test_model_status_as_tf_serving_documents_it(server):
    client, _ = server
    available = {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert client.status("tagging") == (200, {"model_version_status": [available]})
    assert client.status("tagging", 1) == (200, {"model_version_status": [available]})


def test_metadata_is_the_signature_in_tf_serving_shape(server):
    client, _ = server
    status, body = client.metadata("many_to_one", 1)
    assert status == 200
    assert body["model_spec"] == {"name": "many_to_one", "signature_name": "", "version": "1"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    (name, tensor), = signature["inputs"].items()
    assert name == "sequence" and tensor["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in tensor["tensor_shape"]["dim"]] == ["-1", "-1", str(FEATURES)]
    assert client.metadata("many_to_one") == (200, body)


@pytest.mark.parametrize("name", MODELS)
def test_row_and_columnar_predictions_equal_keras(server, exports, name):
    client, _ = server
    model = exports[1][name]
    batch, expected = model["batch"], model["expected"]
    status, rows = client.predict(name, {"instances": batch.tolist()})
    assert status == 200, rows
    status, columns = client.predict(name, {"inputs": batch.tolist(), "signature_name": "serving_default"})
    assert status == 200, columns
    predictions = rows["predictions"]
    if isinstance(predictions[0], dict):  # several outputs: an object per example, as TF Serving answers
        rows = {key: [row[key] for row in predictions] for key in predictions[0]}
        columns = columns["outputs"]
    else:
        (output,) = expected
        rows, columns = {output: predictions}, {output: columns["outputs"]}
    _outputs_match(rows, expected)
    _outputs_match(columns, expected)


def test_generated_ids_come_with_their_strings(server, exports):
    client, _ = server
    model = exports[1]["seq2seq"]
    status, body = client.predict("seq2seq", {"inputs": {"source": model["batch"].tolist()}}, version=1)
    assert status == 200
    vocabulary = model["contract"]["output_vocabulary"]
    for ids, strings in zip(body["outputs"]["token_ids"], body["outputs"][TOKEN_STRINGS]):
        ended = False
        for token_id, string in zip(ids, strings):
            ended = ended or vocabulary[token_id] == Vocabulary.EOS
            assert string == ("" if ended else vocabulary[token_id])


def test_v2_health_metadata_and_infer(server, exports):
    client, _ = server
    assert client.call("GET", "/v2/health/live") == (200, {"live": True})
    assert client.call("GET", "/v2/health/ready") == (200, {"ready": True})
    status, metadata = client.call("GET", "/v2/models/seq2seq")
    assert status == 200
    assert metadata["inputs"] == [{"name": "source", "datatype": "INT32", "shape": [-1, -1]}]
    assert [o["name"] for o in metadata["outputs"]] == ["token_ids", TOKEN_STRINGS]
    for name in MODELS:
        model = exports[1][name]
        batch = model["batch"]
        datatype = "FP32" if batch.dtype.kind == "f" else "INT32"
        input_name = client.call("GET", f"/v2/models/{name}")[1]["inputs"][0]["name"]
        tensor = {"name": input_name, "shape": list(batch.shape), "datatype": datatype,
                  "data": batch.ravel().tolist()}
        status, body = client.infer(name, {"id": f"request-{name}", "inputs": [tensor]})
        assert status == 200, body
        assert body["id"] == f"request-{name}" and body["model_version"] == "1"
        outputs = {o["name"]: np.reshape(o["data"], o["shape"]) for o in body["outputs"]}
        _outputs_match(outputs, model["expected"])


def test_v2_streams_a_sequence_step_by_step_while_the_client_holds_the_states(server, exports):
    client, _ = server
    status, metadata = client.call("GET", "/v2/models/many_to_one-step")
    assert status == 200, metadata
    step_input, *states = metadata["inputs"]
    assert step_input == {"name": "sequence", "datatype": "FP32", "shape": [-1, 1, 3]}
    assert [s["name"] for s in states] == ["rnn_1_h", "rnn_1_c"]  # an LSTM's two states
    assert [o["name"] for o in metadata["outputs"]] == ["label", "rnn_1_h_next", "rnn_1_c_next"]
    model = exports[1]["many_to_one"]
    row = model["batch"][0]  # row 0 has no padding
    held = {s["name"]: np.zeros((1, 4), "float32") for s in states}  # zeros to start
    for t in range(len(row)):
        inputs = [{"name": "sequence", "shape": [1, 1, 3], "datatype": "FP32", "data": row[t].tolist()}]
        inputs += [{"name": name, "shape": [1, 4], "datatype": "FP32", "data": value.ravel().tolist()}
                   for name, value in held.items()]
        status, body = client.infer("many_to_one-step", {"inputs": inputs})
        assert status == 200, body
        outputs = {o["name"]: np.reshape(o["data"], o["shape"]) for o in body["outputs"]}
        held = {name: outputs[f"{name}_next"] for name in held}
    assert body["model_name"] == "many_to_one-step"
    np.testing.assert_allclose(outputs["label"][0], model["expected"]["label"][0], rtol=1e-5, atol=1e-5)
    assert client.call("GET", "/v2/models/one_to_one-step")[0] == 404  # a vector has no steps


def test_a_body_without_json_content_type_is_read_as_json(server, exports):
    client, _ = server
    batch = exports[1]["tagging"]["batch"]
    data = f'{{"instances": {batch.tolist()}}}'.encode()
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type} if content_type else {}
        status, body = client.call("POST", "/v1/models/tagging:predict", data=data, headers=headers)
        assert status == 200, body
    v2 = f'{{"inputs": [{{"name": "tokens", "shape": {list(batch.shape)}, "datatype": "INT32", ' \
         f'"data": {batch.ravel().tolist()}}}]}}'.encode()
    status, body = client.call("POST", "/v2/models/tagging/infer", data=v2,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body


BAD_PREDICT_BODIES = {
    "malformed JSON": b'{"instances": [[[1.0, 2.0',
    "not an object": b"[1, 2]",
    "no instances or inputs": b"{}",
    "both instances and inputs": b'{"instances": [[[1, 2, 3]]], "inputs": [[[1, 2, 3]]]}',
    "ragged rows": b'{"instances": [[[1, 2, 3], [1, 2, 3]], [[1, 2, 3]]]}',
    "strings for numbers": b'{"instances": [[["a", "b", "c"]]]}',
    "booleans for numbers": b'{"instances": [[[true, false, true]]]}',
    "empty batch": b'{"instances": []}',
    "empty columns": b'{"inputs": []}',
    "wrong feature count": b'{"instances": [[[1, 2]]]}',
    "wrong rank": b'{"instances": [1, 2, 3]}',
    "unknown input name": b'{"inputs": {"nope": [[[1, 2, 3]]]}}',
    "unknown signature": b'{"signature_name": "other", "instances": [[[1, 2, 3]]]}',
    "instances not a list": b'{"instances": {"sequence": 1}}',
    "NaN": b'{"instances": [[[NaN, 1, 2]]]}',
    "beyond float32": b'{"instances": [[[1e300, 1, 2]]]}',
}


@pytest.mark.parametrize("case", BAD_PREDICT_BODIES)
def test_bad_predict_requests_get_400_and_the_server_goes_on(server, case):
    client, _ = server
    status, body = client.call("POST", "/v1/models/many_to_one:predict", data=BAD_PREDICT_BODIES[case])
    assert status == 400 and set(body) == {"error"} and body["error"], body
    assert client.status("many_to_one")[0] == 200


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/models/seq2seq:predict", {"instances": [[1.5, 2.0]]}),  # floats for token ids
    ("/v1/models/seq2seq:predict", {"instances": [[1, VOCAB]]}),  # id outside the vocabulary
    ("/v2/models/seq2seq/infer", {"inputs": [{"name": "source", "shape": [1, 2], "datatype": "FP32",
                                              "data": [1.0, 2.0]}]}),
    ("/v2/models/seq2seq/infer", {"inputs": [{"name": "source", "shape": [1, 3], "datatype": "INT32",
                                              "data": [1, 2]}]}),
    ("/v2/models/seq2seq/infer", {"inputs": [{"name": "other", "shape": [1, 1], "datatype": "INT32",
                                              "data": [1]}]}),
    ("/v2/models/seq2seq/infer", {"id": "x"}),
])
def test_bad_token_and_v2_requests_get_400(server, path, body):
    client, _ = server
    status, answer = client.call("POST", path, body)
    assert status == 400 and set(answer) == {"error"}, answer


def test_left_padding_is_refused_by_onnx_and_served_by_savedmodel(server, exports):
    client, process = server
    model = exports[1]["tagging"]
    batch = model["batch"].copy()
    batch[0] = np.roll(batch[0], 2)
    batch[0, :2] = 0  # padding first: the fused ONNX graph reads the mask as lengths
    status, body = client.predict("tagging", {"instances": batch.tolist()})
    if "onnx" in process.args:
        assert status == 400 and "right padding only" in body["error"]
    else:
        assert status == 200
        keras_out = keras_outputs(model["task"], model["model"], model["contract"], batch)
        _outputs_match({"tags": body["predictions"]}, keras_out)


def test_oversized_body_gets_413(server):
    client, _ = server
    data = b'{"instances": [' + b"1," * (MAX_BODY_MB << 20) + b"1]}"
    status, body = client.call("POST", "/v1/models/many_to_one:predict", data=data)
    assert status == 413 and "limit" in body["error"]
    assert client.status("many_to_one")[0] == 200


def test_unknown_model_or_version_gets_404(server):
    client, _ = server
    answers = (client.status("nope"), client.metadata("nope"), client.predict("nope", {"instances": [1]}),
               client.status("tagging", 9), client.predict("tagging", {"instances": [[1]]}, version=9),
               client.infer("nope", {"inputs": []}))
    for status, body in answers:
        assert status == 404 and set(body) == {"error"}, body
    assert client.status("tagging", 9)[1]["error"] == "Servable not found for request: Specific(tagging, 9)"


def _wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def test_new_versions_are_served_without_restart_and_half_written_ones_never(server, exports):
    client, _ = server
    root, models = exports
    hot = root / "hot"
    model = models["many_to_one"]
    batch = model["batch"].tolist()

    def served_versions():
        states = client.status("hot")[1]["model_version_status"]
        return [s["version"] for s in states if s["state"] == "AVAILABLE"]

    start = max(int(v) for v in served_versions())
    # An export in progress (hidden staging folder) and a version folder still being copied in.
    tempfile.mkdtemp(dir=hot, prefix=f".staging-{start + 1}-")
    half = hot / str(start + 1)
    half.mkdir()
    shutil.copy(hot / str(start) / "metadata.json", half)
    time.sleep(5 * POLL_SECONDS)
    assert served_versions() == [str(start)]
    assert client.predict("hot", {"instances": batch})[0] == 200

    task, retrained, contract, source = tiny_trained("many_to_one", np.random.default_rng(7))
    new_dir = export_model(retrained, task, contract, source, root, "hot")
    assert _wait_for(lambda: served_versions() == [new_dir.name])
    status, body = client.predict("hot", {"instances": batch})
    assert status == 200
    np.testing.assert_allclose(body["predictions"], keras_outputs(task, retrained, contract, batch)["label"],
                               rtol=1e-5, atol=1e-5)
    assert client.status("hot", half.name)[1]["model_version_status"][0]["state"] == "END"


def test_model_folders_added_and_removed_while_serving(server, exports):
    client, _ = server
    root, models = exports
    batch = models["tagging"]["batch"].ravel().tolist()
    shape = list(models["tagging"]["batch"].shape)
    request = {"inputs": [{"name": "tokens", "shape": shape, "datatype": "INT32", "data": batch}]}
    shutil.copytree(root / "tagging", root / "late")
    try:
        assert _wait_for(lambda: client.infer("late", request)[0] == 200)
        assert client.status("late")[0] == 200
    finally:
        shutil.rmtree(root / "late")
    assert _wait_for(lambda: client.status("late")[0] == 404 and client.infer("late", request)[0] == 404)
    assert client.call("GET", "/v2/health/ready") == (200, {"ready": True})


def test_repository_serves_the_highest_version_or_all(exports, tmp_path):
    root, _ = exports
    for version in (1, 2):
        shutil.copytree(root / "tagging" / "1", tmp_path / "tagging" / str(version))
    latest = ExportRepository(tmp_path, "onnx")
    latest.scan()
    assert latest.version_states("tagging") == {2: None}
    with pytest.raises(ServableNotFound, match=r"Specific\(tagging, 1\)"):
        latest.get("tagging", 1)
    every = ExportRepository(tmp_path, "onnx", all_versions=True)
    every.scan()
    assert every.version_states("tagging") == {1: None, 2: None}
    assert every.get("tagging").version == 2


def test_files_changed_under_a_served_version_are_reported_once_and_it_keeps_serving(exports, tmp_path,
                                                                                        caplog):
    from serving.tfserving import _status

    root, models = exports
    shutil.copytree(root / "tagging" / "1", tmp_path / "tagging" / "1")
    repository = ExportRepository(tmp_path, "onnx")
    repository.scan()
    served = repository.get("tagging")
    batch = {"tokens": models["tagging"]["batch"]}
    expected = served.predict(batch)["tags"]
    onnx_file = tmp_path / "tagging" / "1" / "model.onnx"
    original = onnx_file.read_bytes()
    onnx_file.write_bytes(b"garbage")
    with caplog.at_level("INFO", logger="kserve"):
        repository.scan()
        repository.scan()
    warnings = [r.getMessage() for r in caplog.records if "changed on disk" in r.getMessage()]
    assert len(warnings) == 1 and "model.onnx" in warnings[0] and "version 1" in warnings[0]
    assert repository.get("tagging") is served  # the copy in memory, as verified when loaded
    np.testing.assert_array_equal(served.predict(batch)["tags"], expected)
    status = _status(repository.version_states("tagging"), repository.changed("tagging"))
    entry = status["model_version_status"][0]
    assert entry["state"] == "AVAILABLE" and entry["status"]["error_code"] == "DATA_LOSS"
    assert "model.onnx" in entry["status"]["error_message"]
    onnx_file.write_bytes(original)
    with caplog.at_level("INFO", logger="kserve"):
        repository.scan()
    assert repository.changed("tagging") == {}
    assert any("match what it was loaded from again" in r.getMessage() for r in caplog.records)


def test_a_missing_export_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ExportRepository(tmp_path / "nope", "onnx")


def test_the_client_uses_only_the_standard_library():
    tree = ast.parse(Path("tests/tfserving_client.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names), imported


def _triton(server):
    import tritonclient.http as triton

    client, _ = server
    return triton, triton.InferenceServerClient(client.base_url.removeprefix("http://"))


def test_tritonclient_reads_health_metadata_and_readiness(server):
    triton, client = _triton(server)
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    for version in ("", "1"):
        assert client.is_model_ready("seq2seq", version)
        metadata = client.get_model_metadata("seq2seq", version)
        assert metadata["versions"] == ["1"] and metadata["inputs"][0]["name"] == "source"
        assert [o["name"] for o in metadata["outputs"]] == ["token_ids", TOKEN_STRINGS]
    assert not client.is_model_ready("seq2seq", "9")
    with pytest.raises(triton.InferenceServerException, match="Specific"):
        client.get_model_metadata("seq2seq", "9")


@pytest.mark.parametrize("name", MODELS)
def test_tritonclient_infers_in_json_and_binary_versioned_or_not(server, exports, name):
    triton, client = _triton(server)
    model = exports[1][name]
    batch = model["batch"]
    metadata = client.get_model_metadata(name)
    (input_spec,) = metadata["inputs"]
    for binary_in, binary_out, version, compression in itertools.product(
            (False, True), (False, True), ("", "1"), (None, "gzip", "deflate")):
        tensor = triton.InferInput(input_spec["name"], list(batch.shape), input_spec["datatype"])
        tensor.set_data_from_numpy(batch, binary_data=binary_in)
        wanted = [triton.InferRequestedOutput(o["name"], binary_data=binary_out) for o in metadata["outputs"]]
        result = client.infer(name, [tensor], model_version=version, outputs=wanted,
                              request_compression_algorithm=compression)
        for output, expected in model["expected"].items():
            got = result.as_numpy(output)
            assert (result.get_output(output).get("parameters") is not None) == binary_out
            _outputs_match({output: got}, {output: expected})
    with pytest.raises(triton.InferenceServerException, match="no output 'nope'"):
        client.infer(name, [tensor], outputs=[triton.InferRequestedOutput("nope")])


def test_bodies_in_an_encoding_not_read_get_415(server):
    client, _ = server
    status, body = client.call("POST", "/v2/models/tagging/infer", data=b"{}",
                               headers={"Content-Encoding": "br"})
    assert status == 415 and "gzip" in body["error"]


def test_version_labels_from_labels_json_and_classify_refused(server, exports):
    client, _ = server
    root, models = exports
    (root / "tagging" / "labels.json").write_text('{"stable": 1, "canary": 9}')
    try:
        assert _wait_for(lambda: client.call("GET", "/v1/models/tagging/labels/stable")[0] == 200)
        batch = models["tagging"]["batch"]
        status, body = client.call("POST", "/v1/models/tagging/labels/stable:predict",
                                   {"instances": batch.tolist()})
        assert status == 200
        _outputs_match({"tags": body["predictions"]}, models["tagging"]["expected"])
        metadata = client.call("GET", "/v1/models/tagging/labels/stable/metadata")[1]
        assert metadata["model_spec"]["version"] == "1"
        assert client.call("GET", "/v1/models/tagging/labels/canary")[0] == 404  # 9 is not served
        status, body = client.call("GET", "/v1/models/tagging/labels/nope")
        assert (status, body) == (400, {"error": "Unrecognized servable version label: nope"})
        for method in ("classify", "regress"):
            status, body = client.call("POST", f"/v1/models/tagging:{method}", {"examples": [{}]})
            assert status == 400 and ":predict" in body["error"]
    finally:
        (root / "tagging" / "labels.json").unlink()


def test_openapi_describes_the_routes_as_served(server):
    client, _ = server
    status, document = client.call("GET", "/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert "/v1/models/{model_name}:explain" not in paths and "/v2/models/{model_name}/infer" not in paths
    for path, methods in paths.items():
        for method, operation in methods.items():
            declared = {p["name"]: p["in"] for p in operation.get("parameters", [])}
            assert declared == {name: "path" for name in re.findall(r"{(\w+)}", path)}, (path, declared)
            if path.endswith((":predict", "/infer")):
                assert "requestBody" in operation and {"400", "404", "413"} <= set(operation["responses"])
            if method == "get" and "{label}" not in path and path != "/metrics":  # metrics: Prometheus text
                concrete = path.replace("{name}", "tagging").replace("{version}", "1")
                assert client.call("GET", concrete)[0] == 200, path
    for route in ("/v1/models/{name}/labels/{label}:predict", "/v2/models/{name}/versions/{version}/infer",
                  "/v2/models/{name}/versions/{version}/ready", "/v1/models/{name}:classify"):
        assert route in paths
