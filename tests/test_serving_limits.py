"""`rnn-zoo serve` against bad, huge and slow clients: a 4xx for each, and the server goes on.

Each runtime gets a server with small limits (elements, body, request timeout), so that the
limits are reached quickly; the requests go over raw sockets or http.client, as a hostile
client's would.
"""

import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from serving.launch import running_server
from tests.served import MODELS
from tests.tfserving_client import Client

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

MAX_ELEMENTS = 5000
REQUEST_TIMEOUT = 2
POLL_SECONDS = 0.2


@pytest.fixture(scope="module", params=["onnx", "savedmodel"])
def server(request, exports, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits") / "exports"
    shutil.copytree(exports[0], root)
    log = root.parent / f"{request.param}.log"
    extra = ("--poll-seconds", POLL_SECONDS, "--max-body-mb", 1, "--max-elements", MAX_ELEMENTS,
             "--request-timeout", REQUEST_TIMEOUT)
    with running_server(root, request.param, log, extra) as (base_url, process):
        yield base_url, root, exports[1], log


def _good(models, name):
    """A small valid predict request for model `name`, as (method, path, headers, body)."""
    body = json.dumps({"instances": models[name]["batch"].tolist()}).encode()
    return "POST", f"/v1/models/{name}:predict", {}, body


def _v2(name, inputs, **extra):
    return "POST", f"/v2/models/{name}/infer", {}, json.dumps({"inputs": inputs, **extra}).encode()


def _corpus(models):
    """Malformed, deep, huge and ill-typed requests for every model: (method, path, headers, body)."""
    cases = []
    for name in MODELS:
        batch = models[name]["batch"]
        inputs = batch.tolist()
        predict = f"/v1/models/{name}:predict"
        bodies = [
            b"", b"null", b"[]", b"42", b'"x"', b"{", b'{"instances": [[[1.0, 2.0', b"\xff\xfe\x00",
            b"[" * 5000 + b"]" * 5000, b'{"instances": ' + b"[" * 3000 + b"]" * 3000 + b"}",
            b'{"instances": [' + b"9" * 5000 + b"]}", b'{"instances": [[' + b"1" * 400 + b"]]}",
            b'{"instances": [NaN]}', b'{"instances": [[Infinity]]}', b'{"instances": [1e999]}',
            b'{"instances": null}', b'{"instances": {}}', b'{"instances": [{}]}', b'{"instances": [null]}',
            b'{"instances": [true]}', b'{"instances": [[true, 1]]}', b'{"instances": [["a", 1]]}',
            b'{"inputs": null}', b'{"inputs": {"nope": 1}}', b'{"inputs": [[[[[[1]]]]]]}',
            b'{"signature_name": 5, "instances": [1]}', b'{"signature_name": null, "instances": [1]}',
            json.dumps({"instances": [[0] * 100] * 200}).encode(),  # over the element limit
            json.dumps({"instances": inputs, "inputs": inputs}).encode(),
            json.dumps({"instances": batch.astype(float).tolist()}).encode().replace(b"1", b"true"),
        ]
        cases += [("POST", predict, {}, body) for body in bodies]
        body = json.dumps({"instances": inputs}).encode()
        cases += [("POST", f"/v1/models/{name}/versions/{v}:predict", {}, body)
                  for v in ("²", "١", "-1", "0", "9" * 40, "abc", "1.0", "%00")]
        cases += [("GET", f"/v1/models/{name}/versions/{v}", {}, None) for v in ("²", "١", "9" * 40)]
        cases += [("GET", f"/v1/models/{name}/versions/{v}/metadata", {}, None) for v in ("²", " 1")]
        flat = np.asarray(batch).ravel().tolist()
        datatype = "FP32" if np.asarray(batch).dtype.kind == "f" else "INT32"
        input_name = "sequence" if name == "many_to_one" else None
        cases += [
            _v2(name, [{"name": input_name or "x", "shape": [1], "datatype": "INT32", "data": [0.5]}]),
            _v2(name, [{"name": "x", "shape": [-2, 4, 1], "datatype": datatype, "data": flat}]),
            _v2(name, [{"name": "x", "shape": [2 ** 40, 2 ** 40], "datatype": datatype, "data": flat}]),
            _v2(name, [{"name": "x", "shape": "abc", "datatype": datatype, "data": flat}]),
            _v2(name, [{"name": "x", "shape": [1, True], "datatype": datatype, "data": flat}]),
            _v2(name, [{"name": "x", "shape": [len(flat)], "datatype": "COMPLEX", "data": flat}]),
            _v2(name, [{"name": "x", "shape": [len(flat)], "datatype": "INT32", "data": [True] * len(flat)}]),
            _v2(name, [{"name": "x", "shape": [len(flat)], "datatype": "INT8", "data": [300] * len(flat)}]),
            _v2(name, [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1]}]),
            _v2(name, [{"name": "x", "shape": [1], "datatype": datatype, "parameters": [1], "data": [1]}]),
            _v2(name, [{"name": "x", "shape": [1], "datatype": datatype}]),
            _v2(name, [None]), _v2(name, []), _v2(name, "x"), _v2(name, [{"name": 5}]),
            _v2(name, [{"name": "x", "shape": [1], "datatype": datatype, "data": [1]}], id=5),
            _v2(name, [{"name": "x", "shape": [1], "datatype": datatype, "data": [1]}],
                outputs=[{"name": "no"}]),
            _v2(name, [{"name": "x", "shape": [1], "datatype": datatype, "data": [1]}], outputs="all"),
            ("POST", f"/v2/models/{name}/infer", {"Inference-Header-Content-Length": "abc"}, b"{}"),
            ("POST", f"/v2/models/{name}/infer", {"Inference-Header-Content-Length": "١"}, b"{}"),
            ("POST", f"/v2/models/{name}/infer", {"Inference-Header-Content-Length": "-5"}, b"{}"),
            ("POST", f"/v2/models/{name}/infer", {"Inference-Header-Content-Length": "999"}, b"{}"),
            ("POST", f"/v2/models/{name}/infer", {"Inference-Header-Content-Length": "2"}, b"{}\x00\x01"),
            ("POST", f"/v2/models/{name}/versions/²/infer", {}, b"{}"),
            ("POST", f"/v2/repository/models/{name}/unload", {}, b"{}"),
            ("POST", f"/v2/repository/models/{name}/load", {}, b"{}"),
        ]
        header = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES",
                                         "parameters": {"binary_data_size": 9}}]}).encode()
        cases.append(("POST", f"/v2/models/{name}/infer",
                      {"Inference-Header-Content-Length": str(len(header))}, header + b"\x05\x00\x00\x00ab"))
    return cases


def _send(connection, method, path, headers, body):
    """(status, body, whether the server closes the connection); path and headers sent as UTF-8."""
    headers = {key: value.encode() for key, value in headers.items()}
    connection.request(method, urllib.parse.quote(path, safe="/:"), body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read(), response.will_close


def test_a_malformed_corpus_gets_only_4xx_and_every_good_request_after_it_is_answered(server):
    base_url, root, models, log = server
    connection = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=30)
    statuses, closed = {}, []
    corpus = _corpus(models)
    assert len(corpus) > 300
    for i, case in enumerate(corpus):
        status, body, will_close = _send(connection, *case)
        statuses[status] = statuses.get(status, 0) + 1
        assert 400 <= status < 500, (case[:3], case[3][:200] if case[3] else None, status, body[:300])
        assert set(json.loads(body)) == {"error"}, body[:300]
        if will_close:
            closed.append(case[1])
            connection.close()
        status, body, _ = _send(connection, *_good(models, MODELS[i % len(MODELS)]))
        assert status == 200, body[:300]
    assert not closed  # a 4xx keeps the connection open, as HTTP/1.1 clients expect
    assert set(statuses) <= {400, 403, 404, 405, 413}, statuses
    text = log.read_text()
    assert "Traceback" not in text and "Internal server error" not in text


def test_elements_over_the_limit_get_413_naming_it(server):
    base_url, *_ = server
    client = Client(base_url)
    status, body = client.predict("tagging", {"instances": [[1] * 100] * 60})
    assert status == 413 and "--max-elements" in body["error"] and f"{MAX_ELEMENTS:,}" in body["error"]
    tensor = {"name": "tokens", "shape": [100, 100], "datatype": "INT32", "data": [1] * 10_000}
    status, body = client.infer("tagging", {"inputs": [tensor]})
    assert status == 413 and "--max-elements" in body["error"]
    assert client.predict("tagging", {"instances": [[1] * 50] * 100})[0] == 200  # at the limit


def test_model_loading_follows_the_export_folder_alone(server):
    base_url, root, models, _ = server
    client = Client(base_url)
    status, body = client.call("POST", "/v2/repository/models/tagging/unload", {})
    assert status == 403 and "export folder" in body["error"]
    tensor = {"name": "tokens", "shape": list(models["tagging"]["batch"].shape), "datatype": "INT32",
              "data": models["tagging"]["batch"].ravel().tolist()}
    assert client.infer("tagging", {"inputs": [tensor]})[0] == 200
    assert client.call("GET", "/v2/models/tagging/ready")[0] == 200


def test_odd_version_folders_are_skipped_and_the_watcher_lives_on(server):
    base_url, root, models, log = server
    client = Client(base_url)
    served = client.status("hot")[1]["model_version_status"][0]["version"]
    source = root / "hot" / served
    for odd in ("²", "١", "01x"):
        shutil.copytree(source, root / "hot" / odd)
    time.sleep(5 * POLL_SECONDS)
    assert client.status("hot")[1]["model_version_status"][0]["version"] == served
    newer = str(int(served) + 1)
    shutil.copytree(source, root / "hot" / newer)
    deadline = time.monotonic() + 30
    while client.status("hot", newer)[0] != 200:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(POLL_SECONDS)


def _raw(base_url, data=b""):
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    if data:
        sock.sendall(data)
    return sock


def _answer_of(sock):
    """What the server sent before it closed the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_stalled_clients_get_408_and_are_let_go_while_others_are_served(server):
    base_url, _, models, _ = server
    stalled = [_raw(base_url) for _ in range(20)]  # connect, say nothing
    stalled += [_raw(base_url, b"POST /v1/models/tagging:predict HTTP/1.1\r\nHost: x\r\n") for _ in range(20)]
    stalled += [_raw(base_url, b"POST /v1/models/tagging:predict HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 1000\r\n\r\n{\"instances\": [") for _ in range(20)]
    start = time.monotonic()
    assert Client(base_url).predict("tagging", {"instances": models["tagging"]["batch"].tolist()})[0] == 200
    assert time.monotonic() - start < REQUEST_TIMEOUT  # served before the stalled ones were dropped
    answers = [_answer_of(sock) for sock in stalled]
    assert time.monotonic() - start < 10 * REQUEST_TIMEOUT
    assert all(answer == b"" for answer in answers[:20])  # nothing asked, nothing answered: just closed
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers[20:]), answers[20][:200]


def test_oversized_headers_get_431(server):
    base_url, *_ = server
    big = b"X-Big: " + b"a" * (1 << 20) + b"\r\n"
    sock = _raw(base_url, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert _answer_of(sock).startswith(b"HTTP/1.1 431 ")
    assert Client(base_url).call("GET", "/v2/health/live")[0] == 200


def test_health_answers_while_a_large_request_runs(server):
    base_url, _, models, _ = server
    client = Client(base_url, timeout=120)
    big = {"instances": [[1] * 50] * 100}  # at the element limit: 100 x 50 tokens, 5 classes out
    done, latencies = threading.Event(), []
    results = []

    def large():
        for _ in range(20):
            results.append(client.predict("tagging", big)[0])
        done.set()

    thread = threading.Thread(target=large)
    thread.start()
    while not done.is_set():
        start = time.monotonic()
        assert client.call("GET", "/v2/health/live")[0] == 200
        latencies.append(time.monotonic() - start)
    thread.join()
    assert results == [200] * 20 and len(latencies) >= 5


@pytest.mark.parametrize(("option", "value"), [("--port", "70000"), ("--port", "0"), ("--poll-seconds", "0"),
                                               ("--max-body-mb", "-1"), ("--max-elements", "0"),
                                               ("--request-timeout", "-2")])
def test_server_options_out_of_range_are_one_line(tmp_path, option, value):
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "serve", "--export-dir", str(tmp_path),
                             option, value], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and option in result.stderr


@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_a_fault_of_the_server_is_a_500_with_an_id_in_one_log_line(caplog):
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from serving.errors import STATUS, CatchAll, handle

    app = FastAPI()
    app.exception_handlers = {kind: handle for kind in STATUS}

    @app.get("/broken")
    async def broken():
        raise KeyError("a bug")

    app.add_middleware(CatchAll)
    with caplog.at_level("WARNING"), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
        assert client.get("/nowhere").status_code == 404  # the same client goes on
    assert answer.status_code == 500
    incident = answer.json()["error"].split()[3].rstrip(":")
    assert answer.json()["error"] == f"Internal server error {incident}: KeyError: 'a bug'"
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert line == f"500 GET /broken: error {incident}: KeyError: 'a bug'"


def test_a_request_that_came_in_time_is_read_though_the_timer_fires_first():
    """uvloop runs due timers before it reads sockets: a loop held up past a new connection's deadline
    finds its request waiting, and must read it rather than close the connection as silent."""
    from serving.connections import guarded_protocol

    class Transport:
        def __init__(self, sock):
            self.sock, self.closed = sock, False

        def get_extra_info(self, name):
            return self.sock if name == "socket" else None

        def close(self):
            self.closed = True

    class Loop:
        def call_later(self, delay, callback):
            self.armed = delay
            return type("Timer", (), {"cancel": lambda self: None})()

    ours, client = socket.socketpair()
    with ours, client:
        protocol = object.__new__(guarded_protocol(1024, REQUEST_TIMEOUT))
        protocol.transport, protocol.loop = Transport(ours), Loop()
        protocol._timer, protocol._in_request = None, False
        protocol._timed_out()
        assert protocol.transport.closed  # connected and silent: closed
        protocol.transport.closed = False
        client.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        protocol._timed_out()
        assert not protocol.transport.closed and protocol.loop.armed == REQUEST_TIMEOUT


def test_schemathesis_finds_no_failure_against_the_api_document(server, tmp_path):
    """Schemathesis with every check (status codes, content types, response schemas, Allow headers,
    negative and positive data) over every operation of /openapi.json, a fixed seed; then again with
    a served model's name in every path, so that the answers of a real model (200s included) are
    checked too. There, a body the schema allows is not one the model takes (its shapes are the
    model's own), so positive_data_acceptance is left out."""
    base_url = server[0]
    (tmp_path / "served.toml").write_text('[parameters]\nname = "tagging"\n')
    for config, extra in ((), ()), (("--config-file", "served.toml"), ("--exclude-checks",
                                                                      "positive_data_acceptance")):
        result = subprocess.run(
            [str(Path(sys.executable).with_name("st")), *config, "run", f"{base_url}/openapi.json",
             "--checks", "all", *extra, "--max-examples", "6", "--seed", "7", "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
        summary = result.stdout[-2500:]
        assert result.returncode == 0, summary
        assert "Tested: 30" in result.stdout and re.search(r"(\d+) generated, \1 passed", summary), summary


def test_a_405_names_the_methods_allowed_and_every_refusal_is_json(server):
    base_url = server[0]
    address = urllib.parse.urlparse(base_url)
    for method, path, allowed in (("TRACE", "/v1/models/tagging", "GET"),
                                  ("GET", "/v1/models/tagging:predict", "POST"),
                                  ("DELETE", "/v2/models/tagging/versions/1/infer", "POST")):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.request(method, path)
        response = connection.getresponse()
        assert (response.status, response.getheader("Allow")) == (405, allowed), (method, path)
        assert "error" in json.loads(response.read())
    # Both Content-Length and Transfer-Encoding: refused as HTTP/1.1 requires, in the server's JSON.
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/tagging:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        answer = sock.recv(4096).decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and "application/json" in head and "error" in json.loads(body)
