"""make bench-serve: requests per second and latency of `rnn-zoo serve` over loopback.

One export (the zoo's many_to_one, LSTM 64, 8 features, random weights, sequences of 100 steps)
is served with each runtime in turn; clients post TF Serving REST `:predict` requests (row format)
of batch 1 and batch 32, from 1, 8 and 32 threads with keep-alive connections, each for SECONDS
(default 8). Clients and server share this machine's 2 cores. Prints a Markdown table and writes it
into README.md between the bench-serve markers, with the server's resident memory after each cell.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import http.client  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

import zoo  # noqa: E402
from bench.bench_export import CONTRACT, FEATURES, SPEC  # noqa: E402
from bench.readme_tables import write_table  # noqa: E402
from export import export_model  # noqa: E402
from serving.launch import running_server  # noqa: E402

LENGTH = 100


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
    table = "\n".join([
        "| runtime | batch | clients | requests/s | examples/s | p50 ms | p99 ms | server memory MB |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r} | {b} | {c} | {rps:.0f} | {rps * b:.0f} | {p50:.1f} | {p99:.1f} | {mb:.0f} |"
          for r, b, c, rps, p50, p99, mb in rows),
    ])
    print(table)
    write_table("bench-serve", table)


if __name__ == "__main__":
    main()
