"""make bench-train: how fast the zoo trains, against a PyTorch twin, with and without bucketing and
XLA, and on one or two local workers.

1. Training steps per second, batch 64, for every cell x hidden size (64, 256) x length (50, 200) x
   masked (lengths from a quarter of the length to all of it) or not, one direction, plus the masked
   rows with two directions: Keras as the zoo builds it (Masking, the recurrent layer, Dense softmax;
   Adam), the same compiled with XLA (`jit_compile`), and a PyTorch twin of the same sizes and
   optimiser (`pack_padded_sequence` for the masked rows), timed in turns (bench.timing). The XLA
   speed-ups go to zoo/xla_speedups.json, from which training picks XLA per configuration (zoo.xla).
2. Epoch time with and without length bucketing (zoo.batching) on JapaneseVowels, the Turkish
   treebank and a generated set of IMDB-like lengths (20-1,000 tokens), epochs timed in turns.
3. One process against two local workers (zoo.distributed) on the JapaneseVowels preset, three
   seeds each: seconds per epoch and test accuracy.
4. The forecaster at scale: training windows per second and peak memory on 10,000 generated series
   of 500 steps (bench.forecast_scale).
The tables go into docs/pages/benchmarks/train.md between their markers.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import itertools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

import zoo  # noqa: E402
from bench import forecast_scale  # noqa: E402
from bench.readme_tables import write_table  # noqa: E402
from bench.timing import paired_timings, ratio_text  # noqa: E402
from zoo import batching  # noqa: E402
from zoo.data import PAD_VALUE, Dataset, DataSpec, pad  # noqa: E402
from zoo.training import TrainConfig, compile_model, load_data  # noqa: E402
from zoo.xla import SPEEDUPS, device_kind  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BATCH, FEATURES, CLASSES = 64, 8, 4
COMPILE_REPEATS = 3  # fresh model pairs whose first steps time XLA's compilation (the median)
QUICK = os.environ.get("QUICK") == "1"
TORCH_CELLS = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def keras_model(cell, units, bidirectional, masked, jit):
    inputs = keras.Input(shape=(None, FEATURES))
    x = keras.layers.Masking(mask_value=PAD_VALUE)(inputs) if masked else inputs
    layer = zoo.CELLS[cell](units)
    x = (keras.layers.Bidirectional(layer) if bidirectional else layer)(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  jit_compile=jit)
    return model


class TorchTwin(torch.nn.Module):
    """The Keras model's layers in PyTorch: the recurrent layer's last state, then a linear layer."""

    def __init__(self, cell, units, bidirectional):
        super().__init__()
        self.rnn = TORCH_CELLS[cell](FEATURES, units, batch_first=True, bidirectional=bidirectional)
        self.head = torch.nn.Linear(units * (2 if bidirectional else 1), CLASSES)

    def forward(self, x, lengths=None):
        if lengths is not None:
            x = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(x)
        state = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        last = torch.cat([state[-2], state[-1]], dim=-1) if self.rnn.bidirectional else state[-1]
        return self.head(last)


def _batch(steps, masked, rng):
    x = rng.normal(size=(BATCH, steps, FEATURES)).astype("float32")
    lengths = rng.integers(steps // 4, steps + 1, BATCH) if masked else np.full(BATCH, steps)
    lengths[0] = steps  # the batch is as long as its longest row
    y = rng.integers(0, CLASSES, BATCH)
    padded = x.copy()
    for row, length in enumerate(lengths):
        padded[row, length:] = PAD_VALUE
        x[row, length:] = 0.0
    return padded, x, lengths, y


def time_steps(cell, units, steps, masked, bidirectional, rng):
    """One configuration's training step in PyTorch, Keras and Keras + XLA, timed in turns."""
    padded, zeroed, lengths, y = _batch(steps, masked, rng)
    keras.utils.set_random_seed(0)
    plain = keras_model(cell, units, bidirectional, masked, jit=False)
    xla = keras_model(cell, units, bidirectional, masked, jit=True)
    twin = TorchTwin(cell, units, bidirectional)
    optimiser = torch.optim.Adam(twin.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(zeroed), torch.from_numpy(y)
    tl = torch.from_numpy(lengths) if masked else None

    def torch_step():
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(twin(tx, tl), ty).backward()
        optimiser.step()

    # XLA's compilation: its first step's time beyond plain Keras' first (tracing alike), for fresh pairs.
    fresh = [[keras_model(cell, units, bidirectional, masked, jit=j) for j in (False, True)]
             for _ in range(COMPILE_REPEATS - 1)]
    compile_seconds = []
    for pair in [(plain, xla), *fresh]:
        first = []
        for model in pair:
            started = time.perf_counter()
            model.train_on_batch(padded, y)
            first.append(time.perf_counter() - started)
        compile_seconds.append(first[1] - first[0])
    (torch_ms, plain_ms, xla_ms), (vs_plain, vs_xla) = paired_timings(
        [torch_step, lambda: plain.train_on_batch(padded, y), lambda: xla.train_on_batch(padded, y)],
        seconds=2.0 if QUICK else 6.0, block_ms=1.0, min_turns=3 if QUICK else 7)
    return {"cell": cell, "units": units, "steps": steps, "masked": masked, "bidirectional": bidirectional,
            "torch_ms": torch_ms, "keras_ms": plain_ms, "xla_ms": xla_ms, "keras_vs_torch": vs_plain,
            "xla_vs_torch": vs_xla, "xla_speedup": plain_ms / xla_ms, "batch": BATCH,
            "xla_compile_s": statistics.median(compile_seconds)}


def step_rows():
    """Part 1: one row per configuration."""
    rng = np.random.default_rng(0)
    grid = itertools.product(("simple_rnn", "lstm", "gru"), (64, 256), (50, 200))
    configurations = [(*c, masked, False) for c, masked in itertools.product(list(grid), (True, False))]
    configurations += [(cell, units, steps, True, True) for cell, units, steps, *_ in configurations[::2]]
    rows = []
    for configuration in configurations[:2] if QUICK else configurations:
        rows.append(time_steps(*configuration, rng))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _samples(ms):
    return f"{1000 * BATCH / ms:,.0f}"


def step_table(rows):
    from zoo.xla import faster_with_xla

    lines = ["| cell | hidden | steps | masked | directions | PyTorch samples/s | Keras samples/s | "
             "Keras + XLA samples/s | zoo picks | zoo / PyTorch |", "|" + "---|" * 10]
    for r in rows:
        xla = faster_with_xla(r["xla_speedup"])
        picked = r["xla_vs_torch"] if xla else r["keras_vs_torch"]
        lines.append(f"| {r['cell']} | {r['units']} | {r['steps']} | {'yes' if r['masked'] else 'no'} | "
                     f"{2 if r['bidirectional'] else 1} | {_samples(r['torch_ms'])} | "
                     f"{_samples(r['keras_ms'])} | {_samples(r['xla_ms'])} | {'XLA' if xla else 'Keras'} | "
                     f"{ratio_text(picked)} |")
    return "\n".join(lines)


def imdb_like(count, seed=0):
    """Token sequences with IMDB's spread of lengths (log-normal, median about 230, cut to 20-1,000)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(230), 0.75, count), 20, 1000).astype(int)
    x, _ = pad([rng.integers(2, 5000, n).tolist() for n in lengths])
    y = rng.integers(0, 2, count).astype("int32")
    spec = DataSpec(kind="classification", num_outputs=2, input_vocab_size=5000)
    return Dataset("imdb_like", spec, x, y, x[:64], y[:64], x[:64], y[:64])


def _shape(architecture):
    return f"{'bidirectional ' if architecture.bidirectional else ''}{architecture.cell} {architecture.units}"


def time_epochs(name, config, data):
    """One data set's epoch without and with bucketing, the same model, epochs timed in turns."""
    task = zoo.get_task(config.task)
    architecture = config.architecture_for(data)
    keras.utils.set_random_seed(0)
    model = compile_model(task.build(data.spec, architecture), config, data.spec, len(data.y_train))
    epochs = [batching.dataset(task, data.x_train, data.y_train, config.batch_size, 0, on)
              for on in (False, True)]

    def epoch(batches):
        return lambda: model.fit(batches, epochs=1, verbose=0)

    (plain_ms, bucketed_ms), (speedup,) = paired_timings([epoch(epochs[0]), epoch(epochs[1])], seconds=0.0,
                                                         block_ms=0.0, min_turns=3)
    key = batching.key_lengths(task, data.x_train)
    return {"data": name, "examples": len(data.y_train), "lengths": f"{key.min()}-{key.max()}",
            "batch": config.batch_size, "architecture": _shape(architecture), "plain_s": plain_ms / 1000,
            "bucketed_s": bucketed_ms / 1000, "time_ratio": [1 / r for r in speedup[::-1]],
            **batching.padding(task, data.x_train, epochs[1])}


def bucketing_rows():
    """Part 2: JapaneseVowels and the Turkish treebank at their defaults; IMDB-like lengths with a GRU."""
    imdb = TrainConfig(task="many_to_one", cell="gru", units=64, bidirectional=False, chunk=0, batch_size=64)
    sets = [("JapaneseVowels", TrainConfig(task="many_to_one", dataset="japanese_vowels"), None),
            ("Turkish treebank", TrainConfig(task="tagging"), None),
            ("IMDB-like lengths", imdb, imdb_like(300 if QUICK else 3000))]
    rows = []
    for name, config, data in sets[:1] if QUICK else sets:
        config = config.resolved()
        rows.append(time_epochs(name, config, load_data(config) if data is None else data))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bucketing_table(rows):
    lines = ["| data | examples | lengths | model, batch | padding without / with | epoch without (s) | "
             "epoch with (s) | with / without |", "|" + "---|" * 8]
    for r in rows:
        lines.append(f"| {r['data']} | {r['examples']:,} | {r['lengths']} | {r['architecture']}, "
                     f"{r['batch']} | {r['unbucketed']:.0%} / {r['bucketed']:.0%} | {r['plain_s']:.1f} | "
                     f"{r['bucketed_s']:.1f} | {ratio_text(r['time_ratio'])} |")
    return "\n".join(lines)


def worker_rows():
    """Part 3: the JapaneseVowels preset in one process and on two local workers, three seeds each."""
    rows = []
    seeds = (42,) if QUICK else (42, 1, 2)
    quick = ["--epochs", "3", "--limit", "64"] if QUICK else []
    with tempfile.TemporaryDirectory() as folder:
        for workers, seed in itertools.product((1, 2), seeds):
            run_dir = Path(folder) / f"w{workers}-s{seed}"
            command = [sys.executable, "-m", "zoo.cli", "train", "--preset", "japanese_vowels_bigru",
                       "--seed", str(seed), "--run-dir", str(run_dir), *quick,
                       *(["--workers", "2"] if workers == 2 else [])]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            row = {"workers": workers, "seed": seed, "accuracy": metrics["test"]["accuracy"],
                   "epoch_s": metrics["train_seconds"] / metrics["epochs"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def worker_table(rows):
    lines = ["| processes | seconds per epoch | test accuracy | seeds |", "|---|---|---|---|"]
    for workers in (1, 2):
        mine = [r for r in rows if r["workers"] == workers]
        accuracy = [r["accuracy"] for r in mine]
        spread = f" ± {statistics.stdev(accuracy):.3f}" if len(accuracy) > 1 else ""
        lines.append(f"| {'one' if workers == 1 else 'two local workers'} | "
                     f"{statistics.mean(r['epoch_s'] for r in mine):.2f} | "
                     f"{statistics.mean(accuracy):.3f}{spread} | {', '.join(str(r['seed']) for r in mine)} |")
    return "\n".join(lines)


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    started = datetime.now(UTC)
    steps = step_rows()
    buckets = bucketing_rows()
    workers = worker_rows()
    forecast_scale.main()  # writes its own table (QUICK: prints it)
    if QUICK:
        print(step_table(steps), bucketing_table(buckets), worker_table(workers), sep="\n\n")
        return
    # This device's measurements, beside those of the devices measured before (zoo.xla reads its own).
    devices = json.loads(SPEEDUPS.read_text())["devices"] if SPEEDUPS.exists() else {}
    devices[device_kind()] = {
        "measured": started.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "rows": [{k: r[k] for k in ("cell", "units", "steps", "masked", "bidirectional", "xla_speedup",
                                    "batch", "keras_ms", "xla_ms", "xla_compile_s")} for r in steps]}
    SPEEDUPS.write_text(json.dumps({"by": "make bench-train", "devices": devices}, indent=1) + "\n")
    write_table("bench-train", step_table(steps))
    write_table("bench-train-bucketing", bucketing_table(buckets))
    write_table("bench-train-workers", worker_table(workers))
    (REPO / "bench" / "train_results.json").write_text(json.dumps(
        {"steps": steps, "bucketing": buckets, "workers": workers}, indent=1) + "\n")
    minutes = (datetime.now(UTC) - started).seconds / 60
    print(f"Wrote docs/pages/benchmarks/train.md's tables and {SPEEDUPS} in {minutes:.0f} minutes.")


if __name__ == "__main__":
    main()
