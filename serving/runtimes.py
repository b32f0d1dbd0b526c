"""One exported version, loaded into ONNX Runtime or TensorFlow, and the checks on what it is fed.

Both protocols hand this module named numpy arrays and get named numpy arrays back, so the
validation (dtype, rank, sizes, token ids in range) and the answers are the same for both.
"""

import json
from pathlib import Path

import numpy as np
from kserve.errors import InvalidInput

from export.layout import sha256_of
from serving.encoding import as_array
from serving.errors import TooLarge
from zoo.data import Vocabulary  # NumPy only: the ONNX server still loads no TensorFlow

RUNTIMES = ("onnx", "savedmodel")
SIGNATURE_NAME = "serving_default"
# Values one request may send for one input (batch x steps x features); `rnn-zoo serve --max-elements`.
DEFAULT_MAX_ELEMENTS = 1_000_000
# The decoded strings of generated ids: one per id, "" from the end-of-sequence token on.
TOKEN_STRINGS = "token_strings"
# A version that streams (metadata.json's "streaming") serves its step as the model <name>-step too: one
# step and the states in, the answer and the new states out; the client keeps the states between calls.
STEP_SUFFIX = "-step"


class IncompleteVersion(ValueError):
    """A version folder whose files do not (yet) match its metadata.json; it is not served."""


class ServedVersion:
    """The model of one `<name>/<version>/` folder, ready to run.

    inputs / outputs: metadata.json's signature ({name, dtype, shape}; None where dynamic),
    outputs including `token_strings` when the model generates ids from a vocabulary.
    A run trained on text takes strings (tokenised by zoo.text, as in training) or token ids, and
    answers the names its text contract gives (label_name, tag_names, text) either way.
    """

    def __init__(self, version_dir, runtime, max_elements=DEFAULT_MAX_ELEMENTS, metadata=None, loaded=None,
                 batching=None):
        if runtime not in RUNTIMES:
            raise ValueError(f"Unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
        self.directory = Path(version_dir)
        self.metadata = metadata or _checked_metadata(self.directory)
        self.runtime = runtime
        self.max_elements = max_elements
        self.name = self.metadata["name"]
        self.version = int(self.directory.name)
        self.inputs = self.metadata["inputs"]
        self.id_inputs = {spec["name"]: spec for spec in self.metadata.get("id_inputs", self.inputs)}
        self.text = self.metadata.get("text")
        self.output_vocabulary = self.metadata.get("output_vocabulary")
        self.outputs = list(self.metadata["outputs"])
        if self.output_vocabulary and any(o["name"] == "token_ids" for o in self.outputs):
            token_ids = next(o for o in self.outputs if o["name"] == "token_ids")
            self.outputs.append({"name": TOKEN_STRINGS, "dtype": "string", "shape": token_ids["shape"]})
        self.step = None  # the served step (<name>-step), where the version streams
        served_step = self.metadata.get("served_step")
        if runtime == "onnx":
            self._run = _onnx_runner(self.directory, "step.onnx" if served_step else "model.onnx")
        else:  # the step's signature is in the same SavedModel, loaded once for both
            loaded = loaded or _load_saved_model(self.directory)
            signature = "step" if served_step else self.metadata.get("id_signature_name", SIGNATURE_NAME)
            self._run = _saved_model_runner(loaded, signature)
        self._batcher = None
        # Rows one model call takes at most, where batching is asked for: a large request goes in slices
        # whether or not its version shares calls, so that no call holds the cores (or memory) for long.
        self._slice_rows = batching.max_batch_size if batching is not None else None
        self.call_ms = None
        if batching is not None and not served_step and batching.min_call_ms:
            self.call_ms = self._call_ms()
            if self.call_ms is None or self.call_ms < batching.min_call_ms:
                batching = None  # the call costs less than the HTTP around it: batching would cost more
        self.batching = batching
        if batching is not None:  # concurrent requests share model calls (serving.batching)
            from serving.batching import Batcher

            facts = self.metadata.get("batching") or {}
            self._run = self._batcher = Batcher(self._run, batching, facts.get("padded_inputs"),
                                                facts.get("per_step_outputs", ()),
                                                (self.name, str(self.version)))
        if not served_step and (self.metadata.get("streaming") or {}).get("onnx"):
            self.step = ServedVersion(version_dir, runtime, max_elements, _step_metadata(self.metadata),
                                      loaded, batching)

    def _call_ms(self):
        """The median time (ms) of five calls of the model on one example (metadata.json's
        example_input), after two to warm up; None where there is no example to time."""
        import time

        example = self.metadata.get("example_input")
        if example is None:
            return None
        try:
            arrays = {spec["name"]: self.input_array(spec, example[spec["name"]] if isinstance(example, dict)
                                                     else example) for spec in self.inputs}
            times = []
            for attempt in range(7):
                started = time.perf_counter()
                self._run(arrays)
                if attempt >= 2:
                    times.append(time.perf_counter() - started)
        except Exception:  # noqa: BLE001  (an example the checks refuse: not timed, not batched)
            return None
        return 1000 * float(np.median(times))

    def close(self):
        """Stops this version's batcher (and its step's): it is no longer served."""
        for served in (self, self.step):
            if served is not None and served._batcher is not None:
                served._batcher.close()

    def input_array(self, spec, value):
        """`value` (JSON lists or an array) as the array input `spec` takes; InvalidInput if it can't be.

        Strings sent to a text model become token ids here, exactly as its training file's did.
        """
        self.check_size(spec["name"], _claimed_size(value))
        if spec["dtype"] == "string":
            spec = self.id_inputs[spec["name"]]
            if _holds_strings(value):
                value = self._token_ids(spec["name"], value)
                self.check_size(spec["name"], value.size)
        array = _input_array(spec, value, self._vocabulary_size(spec))
        graph = self.metadata.get("onnx_graph", {}) if not self.metadata.get("served_step") else {}
        if self.runtime == "onnx" and graph.get("right_padding_only"):
            _require_right_padding(spec["name"], array, graph["pad_value"])
        return array

    def check_size(self, name, size):
        if size > self.max_elements:
            raise TooLarge(f"Input {name!r} holds {size:,} values (batch x steps x features), over the "
                           f"server's limit of {self.max_elements:,} per request (--max-elements); "
                           "send smaller batches.")

    def predict(self, arrays):
        """Named input arrays -> named output arrays, with decoded strings for generated ids."""
        expected = {spec["name"] for spec in self.inputs}
        if set(arrays) != expected:
            raise InvalidInput(f"Model {self.name} takes inputs {sorted(expected)}, got {sorted(arrays)}.")
        batches = {name: len(a) for name, a in arrays.items()}
        if len(set(batches.values())) > 1:
            raise InvalidInput(f"All inputs must have the same batch size, got {batches}.")
        rows = len(next(iter(arrays.values())))
        if self._batcher is None and self._slice_rows and rows > self._slice_rows:
            parts = [self._run({name: a[i:i + self._slice_rows] for name, a in arrays.items()})
                     for i in range(0, rows, self._slice_rows)]
            outputs = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        else:
            outputs = self._run(arrays)
        if self.text and self.text.get("output"):  # names for the numbers (labels, tags, text)
            from zoo.text import string_outputs

            (ids,) = arrays.values()
            outputs.update(string_outputs(outputs, ids, self.metadata))
        if TOKEN_STRINGS in {o["name"] for o in self.outputs}:
            outputs[TOKEN_STRINGS] = _token_strings(outputs["token_ids"], self.output_vocabulary)
        return outputs

    def _token_ids(self, name, value):
        from zoo.text import as_texts, encode

        how = self.text["input"]
        if how == "tokens":
            if not all(isinstance(row, list | tuple | np.ndarray) for row in value):
                raise InvalidInput(f"Input {name!r} takes one list of token strings per example.")
            rows = [as_texts(list(row)) for row in value]
        else:
            rows = as_texts(list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray)
                            else value)
        flat = [t for row in rows for t in (row if how == "tokens" else [row])]
        if not rows or not all(isinstance(t, str) for t in flat):
            raise InvalidInput(f"Input {name!r} takes " + ("lists of token strings" if how == "tokens" else
                               "one string per example") + ", or token ids.")
        return encode(rows, self.metadata)

    def _vocabulary_size(self, spec):
        """The ids an input may hold: below this (token ids), or below this per column of the last axis
        (a spelled input's word id, then its characters' ids)."""
        if np.dtype(spec["dtype"]).kind != "i":
            return None
        model_spec = self.metadata["spec"]
        vocabulary = self.metadata.get("input_vocabulary")
        words = len(vocabulary) if vocabulary else model_spec.get("input_vocab_size")
        if model_spec.get("spelling"):
            return np.array([words] + [model_spec["character_vocab_size"]] * model_spec["spelling"])
        return words


def _step_metadata(metadata):
    """The metadata of a version's step, served as <name>-step: the step input as the version's own id
    input with one step, each state in and out as float32 [batch, size], numbers out (no text)."""
    streaming = metadata["streaming"]
    source = next(spec for spec in metadata.get("id_inputs", metadata["inputs"])
                  if spec["name"] == streaming["input"])
    states = [(name, size) for name, size in zip(streaming["state_inputs"], streaming["state_sizes"])]
    answers = [{**spec, "shape": [None] * len(spec["shape"])} for spec in metadata["outputs"]
               if spec["name"] in streaming["outputs"]]
    # One step in: nothing to pad, no steps to cut back (requests of the same shapes still share calls).
    return {**metadata, "name": metadata["name"] + STEP_SUFFIX, "served_step": True, "text": None,
            "batching": None,
            "inputs": [{**source, "shape": streaming["input_shape"]}]
            + [{"name": name, "dtype": "float32", "shape": [None, size]} for name, size in states],
            "outputs": answers + [{"name": name, "dtype": "float32", "shape": [None, size]}
                                  for name, (_, size) in zip(streaming["state_outputs"], states)]}


def _checked_metadata(directory):
    """metadata.json, once every file it lists is present with its recorded sha256.

    Exports appear by an atomic rename, but a version copied in by hand can be read mid-copy:
    such a folder raises IncompleteVersion and is looked at again on a later scan.
    """
    try:
        metadata = json.loads((directory / "metadata.json").read_text())
    except FileNotFoundError as error:
        raise IncompleteVersion(f"{directory} has no metadata.json (yet).") from error
    except json.JSONDecodeError as error:
        raise IncompleteVersion(f"{directory}/metadata.json is not complete JSON: {error}") from error
    for relative, digest in metadata.get("sha256", {}).items():
        path = directory / relative
        if not path.is_file() or sha256_of(path) != digest:
            raise IncompleteVersion(f"{path} is missing or differs from metadata.json's sha256.")
    return metadata


def _onnx_runner(directory, file="model.onnx"):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # ONNX Runtime keeps what a request's tensors took in its arena and plans buffers by input shape,
    # so every new large shape grows the server for good; without both, memory goes back after each run.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    session = onnxruntime.InferenceSession(str(directory / file), options,
                                           providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(arrays):
        return dict(zip(names, session.run(names, arrays)))

    return run


def _load_saved_model(directory):
    import tensorflow as tf

    return tf.saved_model.load(str(directory))


def _saved_model_runner(loaded, signature_name):
    import tensorflow as tf

    signature = loaded.signatures[signature_name]

    def run(arrays):
        outputs = signature(**{k: tf.constant(a) for k, a in arrays.items()})
        # The names (strings) are added by ServedVersion.predict, the same way for either runtime.
        return {k: v.numpy() for k, v in outputs.items() if v.dtype != tf.string}

    return run


def _holds_strings(value):
    """Whether a JSON value or array holds strings (at any depth) rather than numbers."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "USO" and value.size and isinstance(value.flat[0], str | bytes)
    while isinstance(value, list | tuple) and value:
        value = value[0]
    return isinstance(value, str | bytes)


def _claimed_size(value):
    """How many values nested lists hold if every row is as long as the first: known before converting."""
    if isinstance(value, np.ndarray):
        return value.size
    size = 1
    while isinstance(value, list | tuple):
        size *= len(value)
        if not value:
            break
        value = value[0]
    return size


def _input_array(spec, value, vocabulary_size):
    name, dtype, shape = spec["name"], np.dtype(spec["dtype"]), spec["shape"]
    array = as_array(name, value)
    if array.dtype.kind not in "iuf":
        raise InvalidInput(f"Input {name!r} must hold numbers ({dtype.name}), got {_json_kind(array)}.")
    if dtype.kind == "i" and array.dtype.kind == "f":
        raise InvalidInput(f"Input {name!r} holds token ids and must be integers, got floating-point values.")
    if array.ndim != len(shape):
        raise InvalidInput(f"Input {name!r} must have {len(shape)} dimensions {_shape_text(shape)}, "
                           f"got {array.ndim} (shape {list(array.shape)}).")
    for axis, (size, wanted) in enumerate(zip(array.shape, shape)):
        if wanted is not None and size != wanted:
            raise InvalidInput(f"Input {name!r} must have size {wanted} on axis {axis} "
                               f"{_shape_text(shape)}, got shape {list(array.shape)}.")
    if array.size == 0:
        raise InvalidInput(f"Input {name!r} is empty (shape {list(array.shape)}); send at least one "
                           "example of at least one step.")
    if vocabulary_size is not None and (array.min() < 0 or np.any(array >= vocabulary_size)):
        allowed = (f"0..{vocabulary_size - 1}" if np.ndim(vocabulary_size) == 0 else
                   f"0..{vocabulary_size[0] - 1} for its words and 0..{vocabulary_size[-1] - 1} for their "
                   "characters")
        raise InvalidInput(f"Input {name!r} holds token ids outside {allowed} "
                           f"(got {array.min()}..{array.max()}).")
    cast = array.astype(dtype)
    if dtype.kind == "f" and not np.all(np.isfinite(cast)):
        raise InvalidInput(f"Input {name!r} holds NaN, infinity, or values beyond {dtype.name}'s range.")
    return cast


def _require_right_padding(name, array, pad_value):
    """A fused ONNX graph reads the mask as lengths: refuse rows whose padding is not all at the end."""
    real = array != pad_value if array.ndim == 2 else np.any(array != pad_value, axis=-1)
    expected = np.arange(real.shape[1]) < real.sum(axis=1, keepdims=True)
    rows = np.flatnonzero(np.any(real != expected, axis=1))
    if rows.size:
        raise InvalidInput(f"Input {name!r}: rows {rows.tolist()} have padding before or between real steps. "
                           "This ONNX graph takes right padding only (real steps first); the savedmodel "
                           "runtime takes any mask.")


def _json_kind(array):
    return {"U": "strings", "S": "strings", "b": "booleans", "O": "mixed or nested values"}.get(
        array.dtype.kind, array.dtype.name)


def _shape_text(shape):
    return "[" + ", ".join("any" if s is None else str(s) for s in shape) + "]"


def _token_strings(token_ids, vocabulary):
    """The vocabulary entry of each id, and "" from the first end-of-sequence token on."""
    strings = np.asarray(vocabulary, dtype=object)[token_ids]
    ended = np.cumsum(token_ids == vocabulary.index(Vocabulary.EOS), axis=-1) > 0
    strings[ended] = ""
    return strings
