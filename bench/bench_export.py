"""make bench-export: median latency of the three ways to run an exported model.

For each cell, hidden size 64 and 256, batch 1 and 64, sequence length 50 and 200: Keras
`model.predict`, the reloaded SavedModel's `serving_default`, and ONNX Runtime, all in this one
process. The model is the zoo's many_to_one (masked input, 8 features, 4 classes) with random
weights: latency does not depend on what the weights learned. Prints a Markdown table and writes
it into README.md between the bench-export markers.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from bench.readme_tables import write_table  # noqa: E402
from export import export_model  # noqa: E402
from zoo.data import PAD_VALUE, DataSpec  # noqa: E402

FEATURES, CLASSES = 8, 4
SPEC = DataSpec(kind="classification", num_outputs=CLASSES, num_features=FEATURES,
                feature_mean=(0.0,) * FEATURES, feature_variance=(1.0,) * FEATURES)
CONTRACT = {"spec": asdict(SPEC), "pad_value": PAD_VALUE}


def median_ms(repeats, call, *args, **kwargs):
    call(*args, **kwargs)  # warm-up: tracing, allocation
    call(*args, **kwargs)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main():
    repeats = int(os.environ.get("REPEATS", "20"))
    task = zoo.get_task("many_to_one")
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for cell in zoo.CELLS:
            for units in (64, 256):
                keras.utils.set_random_seed(0)
                model = task.build_model(SPEC, cell=cell, units=units)
                examples = rng.normal(size=(8, 50, FEATURES)).astype("float32")
                version_dir = export_model(model, task, CONTRACT, examples, workdir, f"{cell}-{units}")
                graph = json.loads((version_dir / "metadata.json").read_text())["onnx_graph"]
                contents = ", ".join(graph["fused_recurrent_ops"]) or ("Loop" if graph["has_loop"] else "-")
                saved = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
                session = onnxruntime.InferenceSession(str(version_dir / "model.onnx"),
                                                       providers=["CPUExecutionProvider"])
                for batch in (1, 64):
                    for length in (50, 200):
                        x = rng.normal(size=(batch, length, FEATURES)).astype("float32")
                        tensor = tf.constant(x)
                        keras_ms = median_ms(repeats, model.predict, x, verbose=0)
                        saved_ms = median_ms(repeats, saved, sequence=tensor)
                        onnx_ms = median_ms(repeats, session.run, None, {"sequence": x})
                        rows.append((cell, units, batch, length, keras_ms, saved_ms, onnx_ms, contents))
                        print(rows[-1], flush=True)
    table = [
        "| cell | hidden | batch | length | Keras `predict` ms | SavedModel ms | ONNX Runtime ms "
        "| predict / ONNX | ONNX graph |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {c} | {u} | {b} | {t} | {k:.2f} | {s:.2f} | {o:.2f} | {k / o:.1f}x | {g} |"
          for c, u, b, t, k, s, o, g in rows),
    ]
    text = "\n".join(table)
    print(text)
    write_table("bench-export", text)


if __name__ == "__main__":
    main()
