"""The catalogue of exported presets (`make zoo`): a model card beside each model, and an index.

Reads the export folder only (each model's newest version and its metadata.json), plus the presets'
own records (zoo.presets): why each was chosen and its figures from `make bench-results`.

    <zoo_dir>/<preset>/<version>/...     one export per preset (TF Serving layout)
    <zoo_dir>/<preset>/MODEL_CARD.md     what the model is, takes, answers, scores, and its limits
    <zoo_dir>/catalog.json               one entry per model folder
    <zoo_dir>/CATALOG.md                 the same as a Markdown table
"""

import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from export.layout import versions
from zoo.presets import get_preset, recorded_results
from zoo.registry import get_task

LATENCY_CALLS = 50
INDEX_COLUMNS = ("model", "task", "data", "test metric", "baseline", "ONNX size", "ONNX latency (batch 1)")


def _write(path, text):
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)  # a reader never sees half a card or half an index


def newest_version(model_root):
    numbers = versions(model_root)
    return Path(model_root) / str(numbers[-1]) if numbers else None


def headline_metric(metadata):
    """(name, value) of the test metric the catalogue shows for this model's task and data."""
    test = metadata["test_metrics"]
    for name in ("exact_match", "accuracy", "root_mean_squared_error"):
        if name in test:
            return name, test[name]
    raise KeyError(f"no headline metric among {sorted(test)}")


def bench_figure(recorded, metric):
    """The bench's figure for a preset, named when the bench measured another metric than `metric`."""
    if "test" not in recorded:
        return None
    return recorded["test"] if recorded["metric"] == metric else f"{recorded['metric']} {recorded['test']}"


def onnx_latency_ms(version_dir, metadata):
    """Median milliseconds of one ONNX Runtime call on the example input (a batch of one)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(version_dir / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    dtype = np.int32 if "int" in model_input.type else np.float32
    feed = {model_input.name: np.asarray(metadata["example_input"], dtype=dtype)}
    for _ in range(5):
        session.run(None, feed)
    seconds = []
    for _ in range(LATENCY_CALLS):
        started = time.perf_counter()
        session.run(None, feed)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def entry(model_root):
    """The catalogue's entry for one model folder (its newest version)."""
    version_dir = newest_version(model_root)
    metadata = json.loads((version_dir / "metadata.json").read_text())
    name = model_root.name
    metric, value = headline_metric(metadata)
    recorded = recorded_results().get(metadata["run"].get("preset") or "", {})
    return {
        "name": name,
        "preset": metadata["run"].get("preset"),
        "version": int(version_dir.name),
        "task": metadata["task"],
        "dataset": metadata["dataset"],
        "metric": {"name": metric, "value": round(value, 4), "seed": metadata["run"]["seed"]},
        "preset_figure": bench_figure(recorded, metric),
        "baseline": recorded.get("baseline"),
        "onnx_kb": round((version_dir / "model.onnx").stat().st_size / 1024),
        "onnx_latency_ms": round(onnx_latency_ms(version_dir, metadata), 3),
        "card": f"{name}/MODEL_CARD.md",
    }


def write_index(zoo_dir):
    """catalog.json and CATALOG.md for every model folder with a version in `zoo_dir`."""
    zoo_dir = Path(zoo_dir)
    roots = sorted(p for p in zoo_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and versions(p))
    entries = [entry(root) for root in roots]
    _write(zoo_dir / "catalog.json", json.dumps(
        {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "models": entries}, indent=2) + "\n")
    _write(zoo_dir / "CATALOG.md", "# rnn-zoo catalogue\n\n" + index_table(entries) + "\n")
    return entries


def index_table(entries):
    rows = ["| " + " | ".join(INDEX_COLUMNS) + " |", "|" + "---|" * len(INDEX_COLUMNS)]
    for e in entries:
        metric = f"{e['metric']['name']} {e['metric']['value']:.3f}"
        if e["preset_figure"]:
            metric += f" (bench: {e['preset_figure']})"
        rows.append(f"| [{e['name']}]({e['card']}) | {e['task']} | {e['dataset']} | {metric} | "
                    f"{e['baseline'] or 'see docs/pages/results.md'} | {e['onnx_kb']:,} KB | "
                    f"{e['onnx_latency_ms']:.3f} ms |")
    return "\n".join(rows)


def _tensor_rows(tensors):
    return "\n".join(f"| `{t['name']}` | {t['dtype']} | {t['shape']} |" for t in tensors)


def model_card(model_root):
    """MODEL_CARD.md of a model folder, from its newest version's metadata.json and its preset."""
    version_dir = newest_version(model_root)
    m = json.loads((version_dir / "metadata.json").read_text())
    name, run, task = m["name"], m["run"], get_task(m["task"])
    preset = get_preset(run["preset"]) if run.get("preset") else None
    recorded = recorded_results().get(run.get("preset") or "", {})
    data = m.get("data", {})
    request = json.dumps(m["example_request"])
    metric, value = headline_metric(m)
    labels = (f"\nLabels, in the order of the output's last axis: {', '.join(m['labels'])}.\n"
              if m.get("labels") else "")
    limits = [
        f"Trained on {data.get('train', 0):,} examples of {m['dataset']} with one seed ({run['seed']}); "
        "the spread over seeds is in docs/pages/results.md.",
        "Send raw values: the model standardises them itself. Pad a shorter row with `pad_value` "
        "after its real steps (right padding)." if m["spec"].get("num_features")
        else "Send token ids or text as `inputs` below says; unknown words become `<unk>`.",
    ]
    if m["onnx_graph"].get("right_padding_only"):
        limits.append("The ONNX graph answers NaN (the server a 400) for a row whose padding is not all "
                      "after its real steps.")
    lines = [
        f"# {name}",
        "",
        f"A **{task.name}** model ({task.shape}) for **{m['dataset']}**, trained and exported by "
        "`make zoo` "
        f"from the preset `{run.get('preset')}`. Version {version_dir.name}.",
        "",
        "## Data",
        "",
        f"- Source: {data.get('source', m['dataset'] + ' (bundled with rnn-zoo)')}",
        f"- Licence: {data.get('licence', 'see the source')}",
        f"- Splits: {data.get('train', 0):,} training, {data.get('validation', 0):,} validation, "
        f"{data.get('test', 0):,} test examples.",
        "",
        "## Inputs and outputs",
        "",
        f"Signature `{m['signature_name']}` (TF Serving REST, KServe V2, the SavedModel):",
        "",
        "| input | dtype | shape |",
        "|---|---|---|",
        _tensor_rows(m["inputs"]),
        "",
        "| output | dtype | shape |",
        "|---|---|---|",
        _tensor_rows(m["outputs"]),
        labels,
        f"`model.onnx` and `model.tflite` take `{', '.join(t['name'] for t in m['id_inputs'])}`, "
        "as `id_inputs` in metadata.json says.",
        "",
        "An example request (`make serve EXPORT_DIR=<this catalogue>`):",
        "",
        "```bash",
        f"curl -s -d '{request}' http://127.0.0.1:8501/v1/models/{name}:predict",
        "```",
        "",
        "In Python, one call loads it for prediction:",
        "",
        "```python",
        f'model = keras.layers.TFSMLayer("{Path(model_root.parent.name, name, version_dir.name)}", '
        'call_endpoint="serving_default")',
        "```",
        "",
        "## Test metrics",
        "",
        "| metric | this model (one seed) | the preset in `make bench-results` (seed mean) | baseline |",
        "|---|---|---|---|",
        f"| {metric} | {value:.4f} | {bench_figure(recorded, metric) or 'not yet measured'} | "
        f"{recorded.get('baseline', 'see docs/pages/results.md')} |",
        "",
        "Every test metric of this model: "
        + ", ".join(f"{k} {v:.4f}" for k, v in sorted(m["test_metrics"].items())),
        "",
        "## Training settings",
        "",
        "```json",
        json.dumps({k: v for k, v in sorted(run.items()) if v is not None}, indent=2),
        "```",
        "",
        *([f"Why this architecture: {preset.why}", "", f"Chosen by: {preset.chosen_by}.", ""]
          if preset else []),
        "## Intended use",
        "",
        f"Predictions on data like {m['dataset']}'s, and a tested starting point for your own: "
        f"`make train PRESET={run.get('preset')} DATA=<your file>` trains the same architecture and "
        "settings.",
        "",
        "## Known limits",
        "",
        *(f"- {line}" for line in limits),
        "",
    ]
    return "\n".join(lines)


def write_model_card(model_root):
    _write(Path(model_root) / "MODEL_CARD.md", model_card(Path(model_root)))
