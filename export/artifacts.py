"""Writes one export version: SavedModel, model.onnx, model.tflite and metadata.json, verified, then
published."""

import json
from importlib.metadata import version as package_version
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from export import beam as beam_search
from export import quantize as quantization
from export.fused import Unsupported, all_nodes, fused_onnx, lowest_ir_version, tf2onnx_model
from export.fused_decoder import greedy_decoder_onnx
from export.layout import publish, sha256_of, staged_version
from export.litert import SIGNATURE_NAME, STEP_SIGNATURE_NAME, tflite_model
from export.litert import runner as litert_runner
from export.serving import describe_signature, serving_function
from export.streaming import Streaming
from export.streaming import runtimes as step_runtimes
from export.text import text_endpoints
from export.verify import example_batches, onnx_runner, real_length, verify, verify_text
from zoo.data import PAD_ID, PAD_VALUE, Vocabulary
from zoo.errors import ZooError
from zoo.registry import get_task
from zoo.training import load_trained_model

ONNX_OPSET = 17
RECURRENT_OPS = ("RNN", "GRU", "LSTM")


class ExportError(ZooError):
    """An export that cannot be made or does not match its Keras model; nothing was published."""


# Measured: they run a recurrent node's every step for every row, so rows shorter than the longest
# in their batch come out wrong there, silently. The graphs export.fused writes never read sequence_lens;
# a tf2onnx conversion may.
IGNORE_SEQUENCE_LENS = "OpenVINO 2026.4 and onnx.reference ignore sequence_lens: rows padded to a batch's " \
                       "longest give wrong answers there; send one row per call, or use ONNX Runtime"
# Measured: onnx.reference joins a Loop's per-turn scan outputs end to end instead of stacking them, so
# a recurrent layer that tf2onnx writes as a Loop comes out reshaped and wrong there (ONNX Runtime
# stacks them, as the standard says); OpenVINO 2026.4 refuses to convert that Loop.
LOOP_SCAN_JOINED = "onnx.reference joins the per-turn outputs of a Loop instead of stacking them: this " \
                   "graph's recurrent Loop gives wrong answers there, and OpenVINO 2026.4 cannot convert " \
                   "it; use ONNX Runtime, the SavedModel or LiteRT"


def _onnx_graph(model, function, contract, generates):
    """(the ONNX model, what metadata.json says of it, why onnx.reference computes it wrong or None).

    Written with fused recurrent nodes by export.fused (export.fused_decoder for generating models)
    where it can; converted by tf2onnx otherwise.
    """
    notes = {"right_padding_only": False}
    try:
        if generates:
            vocab = Vocabulary(tuple(contract["output_vocabulary"]))
            onnx_model, notes = greedy_decoder_onnx(model, vocab, contract["spec"]["max_output_len"],
                                                    ONNX_OPSET)
        else:
            onnx_model, notes = fused_onnx(model, ONNX_OPSET)
        written_by = "rnn-zoo"
        onnx_model = lowest_ir_version(onnx_model)
    except Unsupported:
        onnx_model, written_by = tf2onnx_model(function, ONNX_OPSET), "tf2onnx"
    nodes = list(all_nodes(onnx_model.graph))
    ops = {node.op_type for node in nodes}
    reads_lengths = any(node.op_type in RECURRENT_OPS and len(node.input) > 4 and node.input[4]
                        for node in nodes)
    # A Loop's scan outputs: its outputs beyond the loop-carried values (its inputs past the first two).
    scans = any(node.op_type == "Loop" and len(node.output) > len(node.input) - 2 for node in nodes)
    reference_wrong = LOOP_SCAN_JOINED if scans and written_by == "tf2onnx" else None
    wrong = [IGNORE_SEQUENCE_LENS] if reads_lengths else []
    wrong += [reference_wrong] if reference_wrong else []
    return onnx_model, {
        "reads_sequence_lens": reads_lengths,
        **({"runtimes_known_wrong": "; ".join(wrong)} if wrong else {}),
        "written_by": written_by,
        "fused_recurrent_ops": sorted(ops & set(RECURRENT_OPS)),
        "has_loop": "Loop" in ops,
        "has_scan": "Scan" in ops,
        **notes,
    }, reference_wrong


def _litert(model, contract, generates, path, signatures):
    """Writes model.tflite where LiteRT's built-in operators can express the function (and each of
    `signatures`, {name: a callable giving a new tf.function}, as a further signature), and returns what
    metadata.json says of it: the file, or null and the reason."""
    try:
        flatbuffer, operators = tflite_model(model, contract, generates, signatures)
    except Unsupported as error:
        return {"file": None, "unsupported": str(error)}
    path.write_bytes(flatbuffer)
    return {
        "file": path.name,
        "signature_name": SIGNATURE_NAME,
        **({"step_signature_name": STEP_SIGNATURE_NAME} if STEP_SIGNATURE_NAME in signatures else {}),
        **({"beam_signature_name": beam_search.SIGNATURE_NAME} if beam_search.SIGNATURE_NAME in signatures
           else {}),
        "takes": "token ids or numbers, as id_inputs says; batch and length resizable",
        "operators": operators,
    }


def _quantized(model, function, task, contract, staging, batches):
    """QUANTIZE=dynamic's artifacts (export.quantize), each checked against Keras on `batches`; what
    metadata.json says of them."""
    classes = contract["spec"].get("kind") == "classification"
    written = {"mode": "dynamic"}
    path = staging / quantization.ONNX_FILE
    notes = quantization.onnx_int8(model, contract, task.generates, ONNX_OPSET, path)
    written["onnx"] = notes if not notes["file"] else quantization.describe(
        path, staging / "model.onnx", notes,
        quantization.verify_quantized(function, onnx_runner(path), batches, classes))
    path = staging / quantization.LITERT_FILE
    try:
        flatbuffer, operators = tflite_model(model, contract, task.generates, quantize=True)
    except Unsupported as error:
        written["litert"] = {"file": None, "unsupported": str(error)}
        return written
    path.write_bytes(flatbuffer)
    lite = litert_runner(path)
    written["litert"] = quantization.describe(
        path, staging / "model.tflite", {"file": path.name, "operators": operators},
        quantization.verify_quantized(function, lambda feeds: lite(**feeds), batches, classes))
    return written


def _example(examples, text_examples, contract, input_name):
    """The first held-out input, unpadded: as id_inputs take it (example_input, a batch of one), and
    as a TF Serving REST request to serving_default (example_request; text where it takes text).
    Named inputs ({name: array}) give {name: a batch of one} and one instance with every name."""
    if isinstance(examples, dict):
        first = {name: _json_numbers(array[:1]) for name, array in examples.items()}
        instance = {name: array[0].tolist() for name, array in first.items()}
        return {"example_input": {name: array.tolist() for name, array in first.items()},
                "example_request": {"signature_name": "serving_default", "instances": [instance]}}
    first = _json_numbers(examples[:1, : real_length(examples[0])])
    text_input = contract.get("text", {}).get("input") and text_examples
    value = text_examples[0] if text_input else first[0].tolist()
    if isinstance(value, list) and text_input:  # token lists are padded with "" in examples.npz
        value = [token for token in value if token != ""]
    return {"example_input": first.tolist(),
            "example_request": {"signature_name": "serving_default", "instances": [{input_name: value}]}}


def _batching(model, task, id_inputs, outputs):
    """What the server's batcher reads (serving.batching): the inputs whose steps it may right-pad to
    merge requests of different lengths, with their pad value, and the outputs with one entry per
    step of them, which it cuts back to each request's steps."""
    served = {spec["name"]: spec for spec in id_inputs}
    names = [model.inputs[i].name for i in task.sequence_inputs if i < len(model.inputs)]
    padded = {name: PAD_ID if np.dtype(served[name]["dtype"]).kind == "i" else PAD_VALUE
              for name in names if name in served}
    per_step = [spec["name"] for spec in outputs] if task.target_per_step and not task.generates else []
    return {"padded_inputs": padded, "per_step_outputs": per_step}


def _json_numbers(array):
    """float32's own precision, not float64's 17 digits, in the JSON."""
    if array.dtype.kind != "f" or not array.size:
        return array
    return np.vectorize(lambda v: float(f"{v:.7g}"))(array.astype("float64"))


def export_model(model, task, contract, examples, export_dir, name, extra_metadata=None, text_examples=None,
                 quantize="none", beam=1):
    """Exports `model` to <export_dir>/<name>/<next free version>/ and returns that directory.

    quantize: "dynamic" adds int8 artifacts (export.quantize) beside the float32 ones.
    beam: a generating model's beam width (its run's BEAM); over 1, the exports search beams too
    (export.beam), the width an input with this default.
    contract: the run's data.json (spec, padding, vocabularies, labels, text contract).
    examples: held-out inputs (the model's source input) to verify the artifacts on;
    text_examples: the same kind of inputs as strings, for a run with a text contract.
    """
    if not name or name != Path(name).name or name.startswith("."):
        raise ExportError(f"Model name {name!r} must be a plain directory name.")
    model_root = Path(export_dir) / name
    quantization.check_mode(quantize)
    function = serving_function(model, contract, task.generates)
    endpoints, resources = text_endpoints(function, contract)
    endpoints = endpoints or {"serving_default": function}
    inputs, outputs = describe_signature(endpoints["serving_default"])
    id_signature = "serving_ids" if "serving_ids" in endpoints else "serving_default"
    streaming = Streaming(model, task)
    extra = {}  # further signatures of model.tflite
    if streaming.function:
        endpoints["step"] = streaming.function
        extra[STEP_SIGNATURE_NAME] = lambda: streaming.function
    searches = task.generates and beam > 1
    if searches:
        endpoints[beam_search.SIGNATURE_NAME] = beam_function = beam_search.beam_function(model, contract)
        extra[beam_search.SIGNATURE_NAME] = lambda: beam_search.beam_function(model, contract)
    with staged_version(model_root) as staging:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for resource in resources:
            archive.track(resource)
        for signature_name, endpoint in endpoints.items():
            archive.add_endpoint(signature_name, endpoint)
        archive.write_out(str(staging), verbose=False)
        onnx_model, graph, reference_wrong = _onnx_graph(model, function, contract, task.generates)
        if contract.get("text", {}).get("input"):
            # ONNX's standard string operators cannot tokenise as training did: the graph takes ids.
            graph["takes"] = "token ids (id_inputs): tokenise strings as 'text' says, with input_vocabulary"
        onnx.save(onnx_model, staging / "model.onnx")
        if streaming.function:
            onnx.save(streaming.onnx_model(ONNX_OPSET), staging / "step.onnx")
        if searches:
            onnx.save(tf2onnx_model(beam_function, ONNX_OPSET), staging / beam_search.ONNX_FILE)
        lite = _litert(model, contract, task.generates, staging / "model.tflite", extra)
        try:
            batches = example_batches(examples)
            saved = tf.saved_model.load(str(staging))  # once, for every check of its signatures
            verification = verify(function, saved, staging / "model.onnx", batches,
                                  id_signature, staging / "model.tflite" if lite["file"] else None,
                                  reference_wrong)
            text = contract.get("text") or {}
            if text.get("input") or text.get("output"):  # strings in or names out, to check
                strings = text_examples if text["input"] else None
                verification["text"] = verify_text(function, saved, contract, examples, strings)
            lite_path = lite["file"] and staging / lite["file"]
            streamed = streaming.function and streaming.verify(
                function, step_runtimes(saved, staging / "step.onnx", lite_path), examples)
            searched = searches and verify(
                beam_function, saved, staging / beam_search.ONNX_FILE,
                beam_search.with_width(batches, beam, model.inputs[0].name), beam_search.SIGNATURE_NAME,
                lite_path, litert_signature=beam_search.SIGNATURE_NAME)
            quantized = quantize != "none" and _quantized(
                model, function, task, contract, staging, batches)
        except ValueError as error:
            raise ExportError(f"Export verification failed, nothing was published: {error}") from error
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        metadata = {
            "name": name,
            "task": task.name,
            "signature_name": "serving_default",
            "inputs": inputs,
            "outputs": outputs,
            # Token ids in, for clients that send ids; the ONNX graph takes these (no strings in ONNX).
            "id_signature_name": id_signature,
            "id_inputs": describe_signature(function)[0],
            **_example(examples, text_examples, contract, inputs[0]["name"]),
            **contract,
            **(extra_metadata or {}),
            "onnx_graph": graph,
            "batching": _batching(model, task, describe_signature(function)[0], outputs),
            "litert": lite,
            "streaming": streaming.metadata(lite.get("step_signature_name"), streamed),
            **({"beam": beam_search.metadata(beam, lite.get("beam_signature_name"), searched)}
               if searched else {}),
            **({"quantized": quantized} if quantized else {}),
            "verification": verification,
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "tf2onnx": tf2onnx.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": package_version("onnxruntime"),
                "ai_edge_litert": package_version("ai-edge-litert"),
                "onnx_opset": ONNX_OPSET,
                "onnx_ir_version": onnx_model.ir_version,
            },
            "sha256": {str(p.relative_to(staging)): sha256_of(p) for p in files},
        }

        def write_metadata(version):
            text = json.dumps({**metadata, "version": version}, indent=2, sort_keys=True)
            (staging / "metadata.json").write_text(text)

        return publish(staging, write_metadata)


def export_run(run_dir, export_dir="exports", name=None, quantize="none"):
    """Exports a finished `rnn-zoo train` run; the model is named after its task by default.
    quantize: "dynamic" adds int8 artifacts (export.quantize)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"Run directory {run_dir} does not exist.")
    for needed in ("config.json", "data.json", "metrics.json", "model.keras"):
        if not (run_dir / needed).is_file():
            raise ExportError(f"{run_dir} has no {needed}: export takes a finished `rnn-zoo train` run.")
    if not (run_dir / "examples.npz").is_file():
        raise ExportError(f"{run_dir} has no examples.npz, the held-out inputs export verifies on: "
                          "it was trained before runs kept them; train it again.")
    config = json.loads((run_dir / "config.json").read_text())
    task = get_task(config["task"])
    contract = json.loads((run_dir / "data.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model = load_trained_model(run_dir / "model.keras")
    with np.load(run_dir / "examples.npz", allow_pickle=False) as examples:
        source = examples["source"] if "source" in examples.files else {
            key.partition(".")[2]: examples[key] for key in examples.files if key.startswith("source.")}
        text_examples = examples["text"].tolist() if "text" in examples.files else None
    return export_model(
        model, task, contract, source, export_dir, name or task.name,
        extra_metadata={"dataset": config["dataset"], "run": config, "test_metrics": metrics["test"],
                        "data": metrics["data"]},
        text_examples=text_examples, quantize=quantize, beam=config.get("beam") or 1,
    )
