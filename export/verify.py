"""Proves an export computes what the Keras model computes, on inputs of several lengths."""

import numpy as np
import onnxruntime
import tensorflow as tf
from onnx.reference import ReferenceEvaluator

from export import litert
from zoo.data import EXAMPLES, PAD_ID, PAD_VALUE

TOLERANCE = 1e-5
# onnx.reference runs in numpy, step by step: it checks the first rows of each batch only.
REFERENCE_ROWS = 4


def example_batches(x, rows=32):
    """Batches cut from held-out inputs at several lengths, all right-padded as served.

    A sequence input gives a batch at a quarter, half and all of its padded length, and its
    first example alone at its own length; a vector input gives one batch and one example. Named
    inputs ({name: array}) are cut so by their first; the others keep their shape.
    """
    if isinstance(x, dict):
        first, *rest = x
        return [{first: part, **{name: np.asarray(x[name][:len(part)]) for name in rest}}
                for part in example_batches(x[first], rows)]
    x = np.asarray(x[:rows])
    is_sequence = x.ndim == 3 or (x.ndim == 2 and x.dtype.kind == "i")
    if not is_sequence:
        return [x, x[:1]]
    full = x.shape[1]
    lengths = sorted({max(1, full // 4), max(1, full // 2), full})
    return [x[:, :length] for length in lengths] + [x[:1, : real_length(x[0])]]


def onnx_runner(path):
    """ONNX Runtime on the file at `path`: {input name: array} -> {output name: array}."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda feeds: dict(zip(names, session.run(None, feeds)))


def real_length(example):
    """Steps up to the last real one (padding is PAD_ID for ids, PAD_VALUE for numbers); 1 at least."""
    pad = PAD_ID if example.dtype.kind == "i" else PAD_VALUE
    real = np.any(example != pad, axis=-1) if example.ndim == 2 else example != pad
    return max(1, int(np.flatnonzero(real).max()) + 1) if real.any() else 1


class Runtimes:
    """The ways to run the same model: Keras in process, and each artifact in the runtimes it is
    checked in (TensorFlow, ONNX Runtime, the ONNX reference evaluator, LiteRT)."""

    def __init__(self, function, saved_model, onnx_path, signature="serving_default", litert_path=None,
                 reference_wrong=None, litert_signature=litert.SIGNATURE_NAME):
        self.input_names = [spec.name for spec in function.input_signature]
        self.keras = function
        self.saved_model = saved_model.signatures[signature]
        self.onnx = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.onnx.get_outputs()]
        self.onnx_reference = ReferenceEvaluator(str(onnx_path))
        # Why onnx.reference could not run the graph, or is known to run it wrong (then it is not asked).
        self.reference_error = reference_wrong
        self.litert = litert.runner(litert_path, signature=litert_signature) if litert_path else None

    def run_all(self, batch):
        """batch: the one input's array, or {input name: array}."""
        feeds = batch if isinstance(batch, dict) else {self.input_names[0]: batch}
        keras_out = self.keras(*(tf.constant(feeds[name]) for name in self.input_names))
        keras_out = {k: v.numpy() for k, v in keras_out.items()}
        saved = self.saved_model(**{name: tf.constant(value) for name, value in feeds.items()})
        saved = {k: v.numpy() for k, v in saved.items()}
        onnx = dict(zip(self.output_names, self.onnx.run(None, feeds)))
        exported = {"savedmodel": saved, "onnx": onnx}
        if not self.reference_error:
            try:
                with np.errstate(over="ignore"):  # its sigmoid overflows to the right 0 on large gate inputs
                    first_rows = {name: value[:REFERENCE_ROWS] if np.ndim(value) else value
                                  for name, value in feeds.items()}
                    reference = self.onnx_reference.run(None, first_rows)
                exported["onnx_reference"] = dict(zip(self.output_names, reference))
            except Exception as error:  # it cannot run every graph tf2onnx writes
                self.reference_error = f"{type(error).__name__}: {error}"
        if self.litert:
            exported["litert"] = self.litert(**feeds)
        return keras_out, exported


def verify(function, saved_model, onnx_path, batches, signature="serving_default", litert_path=None,
           reference_wrong=None, litert_signature=litert.SIGNATURE_NAME):
    """Runs every batch through every runtime and returns the figures.

    saved_model: the export's SavedModel, loaded (tf.saved_model.load) once for all its checks;
    signature: its signature that takes what `function` takes (ids or numbers);
    litert_path: model.tflite, where the export wrote one; litert_signature: its signature that takes
    what `function` takes; reference_wrong: why onnx.reference is known to compute this graph wrong (it
    is then left out, and the reason kept).
    Raises ValueError naming the runtime, output and difference if any output differs by
    more than TOLERANCE (relative, and absolute in units of the output's largest magnitude where that
    is over 1: float32 holds 7 digits of a value's own size, so a forecast of 1.7 that loc 500 and
    scale 40 made carries 500's rounding) or any token id differs.
    """
    runtimes = Runtimes(function, saved_model, onnx_path, signature, litert_path, reference_wrong,
                        litert_signature)
    worst = {}
    for batch in batches:
        reference, exported = runtimes.run_all(batch)
        shape = _shapes(batch)
        for runtime, outputs in exported.items():
            worst.setdefault(runtime, 0.0)
            for name, expected in reference.items():
                got = outputs[name]
                if runtime == "onnx_reference":  # it answers the first rows only
                    expected = expected[:REFERENCE_ROWS]
                if got.shape != expected.shape:
                    raise ValueError(f"{runtime} output {name!r} has shape {got.shape}, "
                                     f"Keras {expected.shape} (input shape {shape}).")
                if expected.dtype.kind == "i":
                    if not np.array_equal(got, expected):
                        row = int(np.flatnonzero((got != expected).any(axis=-1))[0])
                        raise ValueError(f"{runtime} decoded other token ids than Keras (input shape "
                                         f"{shape}, row {row}: {got[row].tolist()} against "
                                         f"{expected[row].tolist()}).")
                    continue
                difference = float(np.max(np.abs(got - expected), initial=0.0))
                worst[runtime] = max(worst[runtime], difference)
                magnitude = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
                if not np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE * magnitude):
                    raise ValueError(f"{runtime} output {name!r} differs from Keras by {difference:.3g} "
                                     f"(tolerance {TOLERANCE}, input shape {shape}).")
    return {
        "tolerance": TOLERANCE,
        "batches": [_shapes(b) for b in batches],
        "onnx_reference_rows": REFERENCE_ROWS,
        # The graphs rnn-zoo writes run there (tests); a tf2onnx conversion may not.
        "onnx_reference_error": runtimes.reference_error,
        "max_abs_diff": worst,
        "passed": True,
    }


def _shapes(batch):
    """The batch's shape, or {input name: shape} for named inputs."""
    if isinstance(batch, dict):
        return {name: list(np.shape(array)) for name, array in batch.items()}
    return list(batch.shape)


def verify_text(function, saved_model, contract, examples, strings=None):
    """The SavedModel's serving_default against zoo.text and the Keras model, on held-out examples.

    With `strings` (a text input), zoo.text tokenises them and the Keras model answers the ids;
    the signature takes the strings themselves. Either way its names (label_name, tag_names, text)
    must equal zoo.text's from the Keras answer, and its numbers the Keras numbers.
    """
    from zoo.text import encode, string_outputs

    signature = saved_model.signatures["serving_default"]
    name = function.input_signature[0].name
    if strings is not None:
        ids = encode(strings, contract)
        sent = np.array(strings, dtype=object)
    else:
        ids = sent = np.asarray(examples[:EXAMPLES])
    expected = {k: v.numpy() for k, v in function(tf.constant(ids)).items()}
    expected.update(string_outputs(expected, ids, contract))
    got = {k: v.numpy() for k, v in signature(**{name: tf.constant(sent)}).items()}
    for key, want in expected.items():
        have = got[key]
        if want.dtype == object:
            have = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(have)
            if not np.array_equal(have, want):
                raise ValueError(f"the text signature's {key!r} differs from zoo.text's: {have[:3]} against "
                                 f"{want[:3]}.")
        elif have.shape != want.shape or not np.allclose(have, want, rtol=TOLERANCE, atol=TOLERANCE):
            raise ValueError(f"the text signature's {key!r} differs from Keras on the same strings "
                             f"(shapes {have.shape} and {want.shape}).")
    return {"examples": len(sent), "outputs": sorted(expected), "passed": True}
