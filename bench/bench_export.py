"""make bench-export: what one exported model costs per call in each runtime, and in its PyTorch twin.

For each cell, hidden size 64 and 256, masked and unmasked, batch 1 and 64, sequence length 50 and
200, in this one process: Keras `model.predict`, the reloaded SavedModel's `serving_default`, and
ONNX Runtime on three graphs of the same network: the one `make export` writes (export.fused),
tf2onnx's conversion of the same function, and the PyTorch twin (bench/torch_twin.py: the same
weights in torch.nn, exported by torch.onnx.export). The masked model is the zoo's many_to_one
(Masking, Rescaling, one recurrent layer, Dense softmax; 8 features, 4 classes), the unmasked one
the same without Masking; random weights, as latency does not depend on what they learned.
ONNX Runtime's graphs are timed in turns (paired_timings), and each is checked against Keras first;
so is LiteRT (ai-edge-litert, as many threads as cores) on the model.tflite `make export` writes,
whose size is given beside model.onnx's.

A second table does the same for greedy decoding (one_to_many and seq2seq at the data's sizes): the
SavedModel, tf2onnx's graph of zoo.decoding's loop, and the one `make export` writes
(export.fused_decoder). A third times streaming: one call of the step (step.onnx, and model.tflite's
step signature) against the whole graph's time per step at batch 1 (export.streaming's target is at most
1.5x). The tables go into docs/pages/benchmarks/export.md between their markers; TABLE=<marker>
measures one alone.
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
from bench.timing import paired_timings, ratio_text  # noqa: E402
from bench.torch_twin import twin_onnx  # noqa: E402
from export import export_model, export_run  # noqa: E402
from export.artifacts import ONNX_OPSET  # noqa: E402
from export.litert import runner  # noqa: E402
from export.serving import serving_function  # noqa: E402
from export.verify import onnx_runner  # noqa: E402
from zoo.config import TrainConfig  # noqa: E402
from zoo.data import PAD_VALUE, DataSpec, Vocabulary  # noqa: E402
from zoo.decoding import decoding_scores  # noqa: E402
from zoo.training import RUNS_ROOT, load_data  # noqa: E402

FEATURES, CLASSES = 8, 4
ZOO_RUNS = RUNS_ROOT / "zoo"  # where `make zoo` trains each preset
SPEC = DataSpec(kind="classification", num_outputs=CLASSES, num_features=FEATURES,
                feature_mean=(0.0,) * FEATURES, feature_variance=(1.0,) * FEATURES)
CONTRACT = {"spec": asdict(SPEC), "pad_value": PAD_VALUE}
# Greedy decoding at the sizes of the zoo's data: 5 tokens from 13 (digit words or digits and specials),
# from an image of 8x32 pixels (one_to_many) or from "999+999", 7 characters of 12 (seq2seq).
DECODING_VOCABULARY = Vocabulary((Vocabulary.PAD, Vocabulary.BOS, Vocabulary.EOS, *"0123456789"))
DECODING = {
    "one_to_many": (
        DataSpec(kind="classification", num_outputs=13, num_features=256, feature_mean=(0.0,) * 256,
                 feature_variance=(1.0,) * 256, max_output_len=5),
        lambda rng, batch: rng.normal(size=(batch, 256)).astype("float32"),
    ),
    "seq2seq": (
        DataSpec(kind="classification", num_outputs=13, input_vocab_size=12, max_output_len=5),
        lambda rng, batch: rng.integers(1, 12, size=(batch, 7)).astype("int32"),
    ),
}


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


def build(cell, units, masked):
    if masked:
        return zoo.get_task("many_to_one").build_model(SPEC, cell=cell, units=units)
    inputs = keras.Input(shape=(None, FEATURES), name="sequence")
    x = keras.layers.Rescaling(scale=[1.0] * FEATURES, offset=[0.0] * FEATURES, name="normalize")(inputs)
    x = zoo.CELLS[cell](units, name="rnn_1")(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax", name="label")(x))


def session(onnx_bytes):
    return onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])


def exported(model, task_name, contract, examples, workdir, name):
    """`make export`'s artifacts of `model`: (its graph's recurrent ops, SavedModel signature,
    ONNX Runtime session of the written graph, and of tf2onnx's conversion of the same function,
    LiteRT's runner of model.tflite, the sizes of model.onnx and model.tflite in KB)."""
    task = zoo.get_task(task_name)
    version_dir = export_model(model, task, contract, examples, workdir, name)
    graph = json.loads((version_dir / "metadata.json").read_text())["onnx_graph"]
    ops = "+".join(graph["fused_recurrent_ops"] + ["Scan"] * graph["has_scan"] + ["Loop"] * graph["has_loop"])
    function = serving_function(model, contract, generates=task.generates)
    converted, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature,
                                                 opset=ONNX_OPSET)
    saved = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    lite = runner(version_dir / "model.tflite", threads=os.cpu_count())
    sizes = tuple((version_dir / f).stat().st_size / 1024 for f in ("model.onnx", "model.tflite"))
    return (ops, saved, session(str(version_dir / "model.onnx")), session(converted.SerializeToString()),
            lite, sizes)


def lite_call(lite, input_name, x):
    return functools.partial(lite, **{input_name: x})


def latency_rows(rng, workdir, predict_repeats):
    rows = []
    for cell, units, masked in itertools.product(zoo.CELLS, (64, 256), (True, False)):
        keras.utils.set_random_seed(0)
        model = build(cell, units, masked)
        examples = rng.normal(size=(8, 50, FEATURES)).astype("float32")
        name = f"{cell}-{units}-{'masked' if masked else 'unmasked'}"
        ops, saved, ours, alone, lite, sizes = exported(model, "many_to_one", CONTRACT, examples, workdir,
                                                        name)
        twin = session(twin_onnx(model, "sequence", "label", ONNX_OPSET))
        for batch, length in itertools.product((1, 64), (50, 200)):
            x = rng.normal(size=(batch, length, FEATURES)).astype("float32")
            feed = {"sequence": x}
            reference = model(x, training=False).numpy()
            for other in (ours, alone, twin):  # the same network, three graphs
                np.testing.assert_allclose(other.run(None, feed)[0], reference, atol=1e-4)
            np.testing.assert_allclose(lite(sequence=x)["label"], reference, atol=1e-4)
            (ours_ms, alone_ms, twin_ms, lite_ms), (to_alone, to_twin, to_lite) = paired_timings(
                [functools.partial(s.run, None, feed) for s in (ours, alone, twin)]
                + [lite_call(lite, "sequence", x)])
            rows.append((
                cell, units, "yes" if masked else "no", batch, length,
                median_ms(model.predict, x, verbose=0, repeats=predict_repeats),
                median_ms(saved, sequence=tf.constant(x), repeats=predict_repeats),
                alone_ms, ours_ms, twin_ms, to_twin, to_alone, ops, lite_ms, to_lite, sizes,
            ))
            print(rows[-1], flush=True)
    return latency_table(rows)


def latency_table(rows):
    """The rows latency_rows measured (and printed), as a Markdown table."""
    for column, against in ((10, "PyTorch"), (11, "tf2onnx"), (14, "LiteRT")):
        worst = max(rows, key=lambda row: row[column][1])
        print(f"worst rnn-zoo / {against}: {ratio_text(worst[column])} in {worst[:5]}")
    return [
        "| cell | hidden | masked | batch | length | Keras `predict` ms | SavedModel ms | tf2onnx ONNX ms "
        "| rnn-zoo ONNX ms | PyTorch twin ONNX ms | rnn-zoo / PyTorch | rnn-zoo / tf2onnx | rnn-zoo graph "
        "| LiteRT ms | rnn-zoo ONNX / LiteRT | model.onnx KB | model.tflite KB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {c} | {u} | {m} | {b} | {t} | {k:.2f} | {s:.2f} | {a:.3f} | {o:.3f} | {p:.3f} "
          f"| {ratio_text(to_p)} | {ratio_text(to_a)} | {g} | {lm:.3f} | {ratio_text(to_l)} "
          f"| {size[0]:.0f} | {size[1]:.0f} |"
          for c, u, m, b, t, k, s, a, o, p, to_p, to_a, g, lm, to_l, size in rows),
    ]


def decoding_rows(rng, workdir, repeats):
    rows = []
    for task_name, cell in itertools.product(DECODING, zoo.CELLS):
        spec, sources = DECODING[task_name]
        keras.utils.set_random_seed(0)
        model = zoo.get_task(task_name).build_model(spec, cell=cell, units=64)
        contract = {"spec": asdict(spec), "output_vocabulary": list(DECODING_VOCABULARY.tokens)}
        ops, saved, ours, alone, lite, sizes = exported(model, task_name, contract, sources(rng, 8), workdir,
                                                        f"{task_name}-{cell}")
        source_name = model.inputs[0].name
        for batch in (1, 64):
            x = sources(rng, batch)
            feed = {source_name: x}
            reference = saved(**{source_name: tf.constant(x)})["token_ids"].numpy()
            for graph in (ours, alone):
                np.testing.assert_array_equal(graph.run(None, feed)[0], reference)
            np.testing.assert_array_equal(lite(**feed)["token_ids"], reference)
            (ours_ms, alone_ms, lite_ms), (to_alone, to_lite) = paired_timings(
                [functools.partial(s.run, None, feed) for s in (ours, alone)]
                + [lite_call(lite, source_name, x)])
            saved_ms = median_ms(saved, **{source_name: tf.constant(x)}, repeats=repeats)
            rows.append((task_name, cell, batch, saved_ms, alone_ms, ours_ms, to_alone, ops, lite_ms, to_lite,
                         sizes))
            print(rows[-1], flush=True)
    return [
        "| task | cell | batch | SavedModel ms | tf2onnx ONNX ms | rnn-zoo ONNX ms | rnn-zoo / tf2onnx "
        "| rnn-zoo graph | LiteRT ms | rnn-zoo ONNX / LiteRT | model.onnx KB | model.tflite KB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {t} | {c} | {b} | {s:.2f} | {a:.3f} | {o:.3f} | {ratio_text(to_a)} | {g} | {lm:.3f} "
          f"| {ratio_text(to_l)} | {size[0]:.0f} | {size[1]:.0f} |"
          for t, c, b, s, a, o, to_a, g, lm, to_l, size in rows),
    ]


def streaming_rows(rng, workdir, repeats):
    """One call of the step (step.onnx; model.tflite's step signature) against the whole graph's time
    per step (model.onnx; serving_default), at batch 1, timed in turns; the step's answers checked
    against the whole graph's first."""
    rows = []
    for cell, units in itertools.product(zoo.CELLS, (64, 256)):
        keras.utils.set_random_seed(0)
        model = build(cell, units, masked=True)
        examples = rng.normal(size=(8, 50, FEATURES)).astype("float32")
        version_dir = export_model(model, zoo.get_task("many_to_one"), CONTRACT, examples, workdir,
                                   f"stream-{cell}-{units}")
        streaming = json.loads((version_dir / "metadata.json").read_text())["streaming"]
        step, whole = session(str(version_dir / streaming["onnx"])), session(str(version_dir / "model.onnx"))
        lite_path = version_dir / "model.tflite"
        lite_step = runner(lite_path, threads=os.cpu_count(), signature=streaming["litert_signature"])
        lite_whole = runner(lite_path, threads=os.cpu_count())
        for length in (50, 200):
            x = rng.normal(size=(1, length, FEATURES)).astype("float32")
            states = {name: np.zeros((1, size), np.float32)
                      for name, size in zip(streaming["state_inputs"], streaming["state_sizes"])}
            names = streaming["outputs"] + streaming["state_outputs"]
            for t in range(length):
                answer, *new = step.run(names, {"sequence": x[:, t:t + 1], **states})
                states = dict(zip(streaming["state_inputs"], new))
            np.testing.assert_allclose(answer, whole.run(None, {"sequence": x})[0], atol=1e-5)
            feed = {"sequence": x[:, :1], **states}
            (step_ms, whole_ms, lite_step_ms, lite_whole_ms), _ = paired_timings([
                functools.partial(step.run, names, feed),
                functools.partial(whole.run, None, {"sequence": x}),
                functools.partial(lite_step, **feed), lite_call(lite_whole, "sequence", x)])
            rows.append((cell, units, length, step_ms, whole_ms / length, lite_step_ms,
                         lite_whole_ms / length))
            print(rows[-1], flush=True)
    return [
        "| cell | hidden | length | step.onnx ms | model.onnx ms / step | step / whole per step "
        "| LiteRT step ms | LiteRT whole ms / step | LiteRT step / whole per step |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {c} | {u} | {t} | {s:.4f} | {w:.4f} | {s / w:.1f}x | {ls:.4f} | {lw:.4f} | {ls / lw:.1f}x |"
          for c, u, t, s, w, ls, lw in rows),
    ]


def _predictions(run, name, x, batch=256):
    """`run`'s output `name` for every row of x, batch by batch."""
    return np.concatenate([np.asarray(run(x[i:i + batch])[name]) for i in range(0, len(x), batch)])


def _metric(task, data, answers):
    """The run's own test metric from an artifact's answers: exact match (generating), accuracy over real
    steps (tagging) or rows, or RMSE (values)."""
    if task.generates:
        eos = data.output_vocab.id(data.output_vocab.EOS)
        # decoding_scores reads the answers through a "decoder" of row numbers.
        scores = decoding_scores(lambda rows: tf.constant(answers[rows]), np.arange(len(answers)),
                                 data.y_test, eos)
        return "exact match", scores["exact_match"]
    if data.spec.kind != "classification":
        return "RMSE", float(np.sqrt(np.mean((answers[..., 0] - np.ravel(data.y_test)) ** 2)))
    predicted, truth = np.argmax(answers, axis=-1), np.asarray(data.y_test)
    if task.target_per_step:
        x = data.x_test if data.x_test.ndim == 2 else data.x_test[..., 0]
        return "accuracy", float(np.mean(predicted[x != 0] == truth[x != 0]))
    return "accuracy", float(np.mean(predicted == truth))


def _artifact(path, input_name):
    """rows -> {output name: array} for an ONNX or LiteRT file that takes `input_name`."""
    if path.suffix == ".onnx":
        run = onnx_runner(path)
        return lambda rows: run({input_name: rows})
    lite = runner(path, threads=os.cpu_count())
    return lambda rows: lite(**{input_name: rows})


def quantized_rows(rng, workdir, repeats):
    """QUANTIZE=dynamic on the preset runs `make zoo` trained (runs/zoo/<preset>; the forecaster's
    graph is tf2onnx's, which it does not quantise): each artifact's size and its task metric on the
    whole test split, float32 beside int8, in ONNX Runtime and LiteRT; ONNX Runtime's batch-1 latency
    in turns."""
    rows = []
    for run_dir in sorted(p.parent for p in ZOO_RUNS.glob("*/metrics.json")):
        config = json.loads((run_dir / "config.json").read_text())
        task = zoo.get_task(config["task"])
        if task.windows:
            continue
        version = export_run(run_dir, workdir, name=run_dir.name, quantize="dynamic")
        metadata = json.loads((version / "metadata.json").read_text())
        data = load_data(TrainConfig(**config))
        x = data.x_test[0] if task.generates else data.x_test
        (output,) = [o["name"] for o in metadata["outputs"] if o["name"] != "token_strings"][:1]
        input_name = metadata["id_inputs"][0]["name"]
        figures = {}
        for kind, name in (("onnx", "model.onnx"), ("onnx int8", "model.int8.onnx"),
                           ("litert", "model.tflite"), ("litert int8", "model.int8.tflite")):
            path = version / name
            if not path.is_file():  # LiteRT's converter refused this model (metadata.json says why)
                figures[kind] = (float("nan"), float("nan"), None)
                continue
            run = _artifact(path, input_name)
            metric, value = _metric(task, data, _predictions(run, output, x))
            figures[kind] = (value, path.stat().st_size / 1024, run)
        one = x[:1]
        (float_ms, int8_ms), _ = paired_timings([functools.partial(figures[k][2], one)
                                                 for k in ("onnx", "onnx int8")])
        stored = metadata["quantized"]["onnx"].get("int8_weights_float_compute", [])
        rows.append((run_dir.name, metric, *(figures[k][:2] for k in figures), float_ms, int8_ms,
                     ", ".join(stored) or "-"))
        print(rows[-1], flush=True)
    def pair(value, size, float_size):  # metric, size: "n/a" where LiteRT's converter refused the model
        if np.isnan(value):
            return "n/a | n/a"
        return f"{value:.4f} | {size:.0f} KB ({size / float_size:.2f}x)"

    return [
        "| preset | metric | ONNX float32 | ONNX int8 | ONNX int8 size | ONNX ms float32 / int8 "
        "| LiteRT float32 | LiteRT int8 | LiteRT int8 size | int8 ONNX: int8 weights, float compute |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {name} | {metric} | {fo[0]:.4f} | {pair(*io, fo[1])} | {fm:.3f} / {im:.3f} "
          f"| {'n/a' if np.isnan(fl[0]) else f'{fl[0]:.4f}'} | {pair(*il, fl[1])} | {left} |"
          for name, metric, fo, io, fl, il, fm, im, left in rows),
    ]


def main():
    repeats = int(os.environ.get("REPEATS", "20"))
    rng = np.random.default_rng(0)
    tables = (("bench-export", latency_rows), ("bench-export-decoding", decoding_rows),
              ("bench-export-streaming", streaming_rows), ("bench-export-quantized", quantized_rows))
    only = os.environ.get("TABLE")  # TABLE=bench-export-decoding measures that table alone
    with tempfile.TemporaryDirectory() as workdir:
        for name, rows in (table for table in tables if only in (None, table[0])):
            text = "\n".join(rows(rng, workdir, repeats))
            print(text)
            write_table(name, text)


if __name__ == "__main__":
    main()
