"""make bench-serve: requests per second and latency of `rnn-zoo serve` over loopback.

One export (the zoo's many_to_one, LSTM 64, 8 features, random weights, sequences of 100 steps)
is served with each runtime in turn; clients post TF Serving REST `:predict` requests (row format)
of batch 1 and batch 32, from 1, 8 and 32 threads with keep-alive connections, each for SECONDS
(default 8), with dynamic batching off and on for every version (MIN_CALL_MS=0), in turns. Clients
and server share this machine's 2 cores. Prints a Markdown table and writes it into
docs/pages/benchmarks/serve.md between the bench-serve markers, with the server's resident memory
after each cell.

Then batching where a call costs more than the HTTP round trip (bench-serve-batching): a
bidirectional LSTM of 256 over 100 steps, batch-1 requests from 1 and 32 clients, batching off and
as the server decides by default. Then mixed load (bench-serve-mixed): 32 clients of batch-1
requests to the LSTM 64, alone and then with 10% of the requests 2,000 x 100 x 8; the small ones'
p99 in each, and the server's memory before and 2 s after.

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


def load(base_url, body, clients, seconds, model="bench", large=None, share=0.0, seed=0):
    """Latencies (s) of every request completed by `clients` threads in `seconds`, and the wall time.

    With `large`, each request is that body instead with probability `share`: the latencies are then
    (small ones, large ones)."""
    address = urlparse(base_url)
    latencies, large_latencies, failures = [], [], []
    stop = time.perf_counter() + seconds

    def client(index):
        draw = np.random.default_rng([seed, index])
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=600)
        mine, mine_large = [], []
        while time.perf_counter() < stop:
            is_large = large is not None and draw.random() < share
            started = time.perf_counter()
            connection.request("POST", f"/v1/models/{model}:predict", large if is_large else body,
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(response.status)
            (mine_large if is_large else mine).append(time.perf_counter() - started)
        connection.close()
        latencies.extend(mine)
        large_latencies.extend(mine_large)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, statuses {sorted(set(failures))}")
    if large is not None:
        return (np.array(latencies), np.array(large_latencies)), time.perf_counter() - started
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


# Batching off, on for every version (MIN_CALL_MS=0), or as the server's default decides per version
# (batched where one example's call takes 1 ms or more).
MODES = {"off": ("--no-batching",), "on": ("--min-call-ms", 0), "default": ()}


def batching_args(mode):
    return MODES[mode]


def throughput(workdir, rng, seconds):
    """Rows of the throughput table: LSTM 64, both runtimes, batching off and on in turns."""
    rows = []
    for runtime in ("onnx", "savedmodel"):
        for batching in ("off", "on"):
            log = Path(workdir) / f"{runtime}-{batching}.log"
            with running_server(workdir, runtime, log, batching_args(batching)) as (base_url, process):
                for batch in (1, 32):
                    instances = rng.normal(size=(batch, LENGTH, FEATURES)).round(4).tolist()
                    body = json.dumps({"instances": instances})
                    load(base_url, body, 1, 1)  # warm-up
                    for clients in (1, 8, 32):
                        latencies, wall = load(base_url, body, clients, seconds)
                        rss_mb = psutil.Process(process.pid).memory_info().rss / 2**20
                        rows.append((runtime, batching, batch, clients,
                                     len(latencies) / wall, 1000 * np.percentile(latencies, 50),
                                     1000 * np.percentile(latencies, 99), rss_mb))
                        print(rows[-1], flush=True)
    return "\n".join([
        "| runtime | batching | batch | clients | requests/s | examples/s | p50 ms | p99 ms "
        "| server memory MB |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {r} | {on} | {b} | {c} | {rps:.0f} | {rps * b:.0f} | {p50:.1f} | {p99:.1f} | {mb:.0f} |"
          for r, on, b, c, rps, p50, p99, mb in rows),
    ])


def costly_model(workdir, rng, seconds):
    """Rows of the batching table: a bidirectional LSTM of 256 over 100 steps (a model call that
    costs more than the HTTP round trip), batch-1 requests from 1 and 32 clients, off and on."""
    keras.utils.set_random_seed(0)
    task = zoo.get_task("many_to_one")
    model = task.build_model(SPEC, cell="lstm", units=256, bidirectional=True)
    examples = rng.normal(size=(8, LENGTH, FEATURES)).astype("float32")
    export_model(model, task, CONTRACT, examples, Path(workdir) / "costly", "bilstm")
    body = json.dumps({"instances": rng.normal(size=(1, LENGTH, FEATURES)).round(4).tolist()})
    rows = []
    for runtime in ("onnx", "savedmodel"):
        for batching in ("off", "default"):
            log = Path(workdir) / f"costly-{runtime}-{batching}.log"
            served = running_server(Path(workdir) / "costly", runtime, log, batching_args(batching))
            with served as (base_url, _):
                load(base_url, body, 1, 1, "bilstm")
                for clients in (1, 32):
                    latencies, wall = load(base_url, body, clients, seconds, "bilstm")
                    rows.append((runtime, clients, batching, len(latencies) / wall,
                                 1000 * np.percentile(latencies, 50), 1000 * np.percentile(latencies, 99)))
                    print(rows[-1], flush=True)
    lines = ["| runtime | clients | batching | requests/s | p50 ms | p99 ms | requests/s vs off "
             "| p99 vs off |",
             "|---|---|---|---|---|---|---|---|"]
    by = {(r, c, b): (rps, p50, p99) for r, c, b, rps, p50, p99 in rows}
    for r, c, b, rps, p50, p99 in rows:
        off = by[(r, c, "off")]
        ratio = f"{rps / off[0]:.2f}x | {p99 / off[2]:.2f}x" if b != "off" else "| "
        lines.append(f"| {r} | {c} | {b} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {ratio} |")
    return "\n".join(lines)


def mixed_load(workdir, rng, seconds):
    """Rows of the mixed-load table: 32 clients of batch-1 requests to the LSTM-64 export, then the
    same with 10% of the requests 2,000 x 100 x 8 (1.6 million values, --max-elements raised for
    them); the small requests' p99 in each, and the server's memory before and after."""
    small = json.dumps({"instances": rng.normal(size=(1, LENGTH, FEATURES)).round(4).tolist()})
    large = json.dumps({"instances": rng.normal(size=(2000, LENGTH, FEATURES)).round(3).tolist()})
    rows = []
    for runtime in ("onnx", "savedmodel"):
        for batching in ("off", "default"):
            log = Path(workdir) / f"mixed-{runtime}-{batching}.log"
            args = (*batching_args(batching), "--max-elements", 2_000_000)
            with running_server(workdir, runtime, log, args) as (base_url, process):
                load(base_url, small, 4, 2)
                alone, _ = load(base_url, small, 32, seconds)
                before = psutil.Process(process.pid).memory_info().rss / 2**20
                (mixed, large_seconds), _ = load(base_url, small, 32, 2 * seconds, large=large, share=0.1)
                time.sleep(2)
                after = psutil.Process(process.pid).memory_info().rss / 2**20
            rows.append((runtime, batching, 1000 * np.percentile(alone, 99),
                         1000 * np.percentile(mixed, 99), len(large_seconds), np.median(large_seconds),
                         before, after))
            print(rows[-1], flush=True)
    return "\n".join([
        "| runtime | batching | small p99 alone ms | small p99 with large ms | ratio | large requests "
        "| large median s | memory before MB | after MB | after / before |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {r} | {b} | {p_alone:.1f} | {p_mixed:.1f} | {p_mixed / p_alone:.1f}x | {n} | {s:.1f} "
          f"| {mb0:.0f} | {mb1:.0f} | {mb1 / mb0:.2f}x |" for r, b, p_alone, p_mixed, n, s, mb0, mb1 in rows),
    ])


def main():
    seconds = float(os.environ.get("SECONDS_PER_CELL", "8"))
    only = set(filter(None, os.environ.get("TABLES", "").split(",")))  # e.g. TABLES=batching,mixed
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    task = zoo.get_task("many_to_one")
    model = task.build_model(SPEC, cell="lstm", units=64)
    tables = {}
    with tempfile.TemporaryDirectory() as workdir:
        examples = rng.normal(size=(8, LENGTH, FEATURES)).astype("float32")
        export_model(model, task, CONTRACT, examples, workdir, "bench")
        for name, table, make in (("throughput", "bench-serve", throughput),
                                  ("batching", "bench-serve-batching", costly_model),
                                  ("mixed", "bench-serve-mixed", mixed_load)):
            if not only or name in only:
                tables[table] = make(workdir, rng, seconds)
        if not only or "large" in only:
            tables["bench-serve-large"] = large_requests(workdir, rng)
    for table, text in tables.items():
        print(text)
        write_table(table, text)


if __name__ == "__main__":
    main()
