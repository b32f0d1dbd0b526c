"""make bench-export: what one exported model costs per call in each runtime, and in its PyTorch twin.

For each cell, hidden size 64 and 256, masked and unmasked, batch 1 and 64, sequence length 50 and
200, in this one process: Keras `model.predict`, the reloaded SavedModel's `serving_default`, and
ONNX Runtime on three graphs of the same network: the one `make export` writes (export.fused),
tf2onnx's conversion of the same function, and the PyTorch twin (bench/torch_twin.py: the same
weights in torch.nn, exported by torch.onnx.export). The masked model is the zoo's many_to_one
(Masking, Rescaling, one recurrent layer, Dense softmax; 8 features, 4 classes), the unmasked one
the same without Masking; random weights, as latency does not depend on what they learned.
ONNX Runtime times are medians of the three graphs called in turns for 1.5 s. Prints a Markdown table and
writes it into README.md between the bench-export markers.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import functools  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

import zoo  # noqa: E402
from bench.readme_tables import write_table  # noqa: E402
from bench.torch_twin import twin_onnx  # noqa: E402
from export import export_model  # noqa: E402
from export.artifacts import ONNX_OPSET  # noqa: E402
from export.serving import serving_function  # noqa: E402
from zoo.data import PAD_VALUE, DataSpec  # noqa: E402

FEATURES, CLASSES = 8, 4
SPEC = DataSpec(kind="classification", num_outputs=CLASSES, num_features=FEATURES,
                feature_mean=(0.0,) * FEATURES, feature_variance=(1.0,) * FEATURES)
CONTRACT = {"spec": asdict(SPEC), "pad_value": PAD_VALUE}


def median_ms(call, *args, repeats, **kwargs):
    """Median milliseconds of `repeats` calls, after two warm-up calls."""
    call(*args, **kwargs)
    call(*args, **kwargs)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def interleaved_ms(calls, seconds=1.5):
    """Median milliseconds of each call, taken in turns (a, b, c, a, b, c, ...) for `seconds`, so that
    the machine's drift over time hits every graph alike. Close ratios need this: the same graph
    timed a minute apart differed by up to 50% here."""
    for call in calls:
        call()
        call()
    times = [[] for _ in calls]
    deadline = time.perf_counter() + seconds
    while len(times[0]) < 20 or time.perf_counter() < deadline:
        for call, taken in zip(calls, times):
            started = time.perf_counter()
            call()
            taken.append(time.perf_counter() - started)
    return [1000 * statistics.median(taken) for taken in times]


def build(cell, units, masked):
    if masked:
        return zoo.get_task("many_to_one").build_model(SPEC, cell=cell, units=units)
    inputs = keras.Input(shape=(None, FEATURES), name="sequence")
    x = keras.layers.Rescaling(scale=[1.0] * FEATURES, offset=[0.0] * FEATURES, name="normalize")(inputs)
    x = zoo.CELLS[cell](units, name="rnn_1")(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax", name="label")(x))


def session(onnx_bytes):
    return onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])


def main():
    predict_repeats = int(os.environ.get("REPEATS", "20"))
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for cell, units, masked in itertools.product(zoo.CELLS, (64, 256), (True, False)):
            keras.utils.set_random_seed(0)
            model = build(cell, units, masked)
            examples = rng.normal(size=(8, 50, FEATURES)).astype("float32")
            name = f"{cell}-{units}-{'masked' if masked else 'unmasked'}"
            version_dir = export_model(model, zoo.get_task("many_to_one"), CONTRACT, examples, workdir, name)
            graph = json.loads((version_dir / "metadata.json").read_text())["onnx_graph"]
            ops = "+".join(graph["fused_recurrent_ops"] + ["Scan"] * graph["has_scan"])
            function = serving_function(model, CONTRACT, generates=False)
            converted, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature,
                                                         opset=ONNX_OPSET)
            saved = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
            ours = session(str(version_dir / "model.onnx"))
            alone = session(converted.SerializeToString())
            twin = session(twin_onnx(model, "sequence", "label", ONNX_OPSET))
            for batch, length in itertools.product((1, 64), (50, 200)):
                x = rng.normal(size=(batch, length, FEATURES)).astype("float32")
                feed = {"sequence": x}
                reference = model(x, training=False).numpy()
                for other in (ours, alone, twin):  # the same network, three graphs
                    np.testing.assert_allclose(other.run(None, feed)[0], reference, atol=1e-4)
                onnx_ms = interleaved_ms([functools.partial(s.run, None, feed) for s in (alone, ours, twin)])
                rows.append((
                    cell, units, "yes" if masked else "no", batch, length,
                    median_ms(model.predict, x, verbose=0, repeats=predict_repeats),
                    median_ms(saved, sequence=tf.constant(x), repeats=predict_repeats), *onnx_ms, ops,
                ))
                print(rows[-1], flush=True)
    table = [
        "| cell | hidden | masked | batch | length | Keras `predict` ms | SavedModel ms | tf2onnx ONNX ms "
        "| rnn-zoo ONNX ms | PyTorch twin ONNX ms | rnn-zoo / PyTorch | rnn-zoo / tf2onnx | rnn-zoo graph |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {c} | {u} | {m} | {b} | {t} | {k:.2f} | {s:.2f} | {a:.3f} | {o:.3f} | {p:.3f} | {o / p:.2f}x "
          f"| {o / a:.2f}x | {g} |" for c, u, m, b, t, k, s, a, o, p, g in rows),
    ]
    text = "\n".join(table)
    print(text)
    worst_twin = max(o / p for *_, a, o, p, _ in rows)
    worst_alone = max(o / a for *_, a, o, p, _ in rows)
    print(f"worst rnn-zoo / PyTorch: {worst_twin:.2f}x; worst rnn-zoo / tf2onnx: {worst_alone:.2f}x")
    write_table("bench-export", text)


if __name__ == "__main__":
    main()
