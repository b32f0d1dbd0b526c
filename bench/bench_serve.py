"""make bench-serve: requests per second and latency of `rnn-zoo serve` over loopback.

One export (the zoo's many_to_one, LSTM 64, 8 features, random weights, sequences of 100 steps)
is served with each runtime in turn; clients post TF Serving REST `:predict` requests (row format)
of batch 1 and batch 32, from 1, 8 and 32 threads with keep-alive connections, each for SECONDS
(default 8). Clients and server share this machine's 2 cores. Prints a Markdown table and writes it
into docs/pages/benchmarks/serve.md between the bench-serve markers, with the server's resident memory
after each cell.

Then large requests (table bench-serve-large): a tagging export (LSTM 64, 5,000 words, 17 tags)
gets LARGE_REQUESTS requests of 10,000 x 100 tokens (1,000,000 values, the default --max-elements;
a 3 MB request and a 180 MB answer) one after another, while a client asks /v2/health/live in a
loop: the server's resident memory before and after, and health's latency while they run.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import http.client  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

import zoo  # noqa: E402
from bench.readme_tables import write_table  # noqa: E402
from export import export_model  # noqa: E402
from serving.launch import running_server  # noqa: E402
from zoo.data import PAD_VALUE, DataSpec  # noqa: E402

LENGTH, FEATURES = 100, 8
SPEC = DataSpec(kind="classification", num_outputs=4, num_features=FEATURES,
                feature_mean=(0.0,) * FEATURES, feature_variance=(1.0,) * FEATURES)
CONTRACT = {"spec": asdict(SPEC), "pad_value": PAD_VALUE}
LARGE_REQUESTS = 6
TAGGING = DataSpec(kind="classification", num_outputs=17, input_vocab_size=5000)


def load(base_url, body, clients, seconds):
    """Latencies (s) of every request completed by `clients` threads in `seconds`, and the wall time."""
    address = urlparse(base_url)
    latencies, failures = [], []
    stop = time.perf_counter() + seconds

    def client():
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        mine = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            connection.request("POST", "/v1/models/bench:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(response.status)
            mine.append(time.perf_counter() - started)
        connection.close()
        latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, statuses {sorted(set(failures))}")
    return np.array(latencies), time.perf_counter() - started


def health_while(base_url, work):
    """Runs work() while a client asks /v2/health/live without pause; the latencies of its answers (s)."""
    address = urlparse(base_url)
    latencies, done = [], threading.Event()

    def poll():
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        while not done.is_set():
            started = time.perf_counter()
            connection.request("GET", "/v2/health/live")
            connection.getresponse().read()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
        connection.close()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        work()
    finally:
        done.set()
        poller.join()
    return np.array(latencies)


def large_row(workdir, runtime, body, small):
    """Memory before and after LARGE_REQUESTS large requests, and health's latency while they run."""
    with running_server(workdir, runtime, Path(workdir) / f"{runtime}-large.log") as (base_url, process):
        address = urlparse(base_url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=600)

        def post(data):
            connection.request("POST", "/v1/models/tagging:predict", data)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {answer[:300]}")
            return len(answer)

        for _ in range(20):
            post(small)
        before = psutil.Process(process.pid).memory_info().rss / 2**20
        seconds, sizes = [], []

        def run():
            for _ in range(LARGE_REQUESTS):
                started = time.perf_counter()
                sizes.append(post(body))
                seconds.append(time.perf_counter() - started)

        health = health_while(base_url, run)
        after = psutil.Process(process.pid).memory_info().rss / 2**20
    row = (runtime, len(body) / 1e6, np.mean(sizes) / 1e6, np.median(seconds), before, after, len(health),
           1000 * np.percentile(health, 50), 1000 * np.percentile(health, 99), 1000 * health.max())
    print(row, flush=True)
    return row


def large_requests(workdir, rng):
    """Rows of the large-request table, one per runtime."""
    keras.utils.set_random_seed(0)
    model = zoo.get_task("tagging").build_model(TAGGING, cell="lstm", units=64)
    examples = rng.integers(1, TAGGING.input_vocab_size, size=(8, LENGTH)).astype("int32")
    export_model(model, zoo.get_task("tagging"), {"spec": asdict(TAGGING), "labels": None}, examples, workdir,
                 "tagging")
    tokens = rng.integers(1, TAGGING.input_vocab_size, size=(10_000, LENGTH))
    body = json.dumps({"instances": tokens.tolist()})
    small = json.dumps({"instances": examples.tolist()})
    rows = [large_row(workdir, runtime, body, small) for runtime in ("onnx", "savedmodel")]
    return "\n".join([
        "| runtime | request MB | answer MB | seconds each | memory before MB | after MB | health answers "
        "| health p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {r} | {q:.1f} | {a:.0f} | {s:.1f} | {b:.0f} | {m:.0f} | {n} | {p50:.1f} | {p99:.1f} "
          f"| {mx:.0f} |" for r, q, a, s, b, m, n, p50, p99, mx in rows),
    ])


def main():
    seconds = float(os.environ.get("SECONDS_PER_CELL", "8"))
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    task = zoo.get_task("many_to_one")
    model = task.build_model(SPEC, cell="lstm", units=64)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        examples = rng.normal(size=(8, LENGTH, FEATURES)).astype("float32")
        export_model(model, task, CONTRACT, examples, workdir, "bench")
        for runtime in ("onnx", "savedmodel"):
            with running_server(workdir, runtime, Path(workdir) / f"{runtime}.log") as (base_url, process):
                for batch in (1, 32):
                    instances = rng.normal(size=(batch, LENGTH, FEATURES)).round(4).tolist()
                    body = json.dumps({"instances": instances})
                    load(base_url, body, 1, 1)  # warm-up
                    for clients in (1, 8, 32):
                        latencies, wall = load(base_url, body, clients, seconds)
                        rss_mb = psutil.Process(process.pid).memory_info().rss / 2**20
                        rows.append((runtime, batch, clients, len(latencies) / wall,
                                     1000 * np.percentile(latencies, 50), 1000 * np.percentile(latencies, 99),
                                     rss_mb))
                        print(rows[-1], flush=True)
        large = large_requests(workdir, rng)
    table = "\n".join([
        "| runtime | batch | clients | requests/s | examples/s | p50 ms | p99 ms | server memory MB |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r} | {b} | {c} | {rps:.0f} | {rps * b:.0f} | {p50:.1f} | {p99:.1f} | {mb:.0f} |"
          for r, b, c, rps, p50, p99, mb in rows),
    ])
    print(table)
    print(large)
    write_table("bench-serve", table)
    write_table("bench-serve-large", large)


if __name__ == "__main__":
    main()
