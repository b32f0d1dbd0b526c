"""make bench-seq2seq: seq2seq's defaults against the same model without attention and a plain Keras GRU
encoder-decoder with dot-product attention (keras.layers.Attention), trained on the same splits for the
same 10 epochs, in one run.

Sets: the generated reversal (10-40 letters) and SVO-to-SOV reordering (4-20 words) of issue 26, and
keras-io's addition. Each model is scored by greedy decoding on the test split (exact match, and the
character or word error rate), with its validation exact match (what chose the default) and training
time. Targets (issue 26): the defaults at least 0.918 on reversal and 1.000 on reordering (the attention
baseline's figures in the issue), in a time within 1.2x of the model without attention. Writes README.md's
and RESULTS.md's table between their markers and the figures into bench/seq2seq_results.json.
QUICK=1: one seed, 1 epoch, 2,000 examples.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import csv  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402

from bench.readme_tables import README, RESULTS_MD, publish  # noqa: E402
from zoo.decoding import decoder, decoding_scores  # noqa: E402
from zoo.training import TrainConfig, load_data, train  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
SETS = ("reverse", "reorder", "addition")
SEEDS = (42,) if QUICK else (42, 1)
EPOCHS = 1 if QUICK else 10
QUICK_LIMITS = {"limit": 2000} if QUICK else {}
TARGETS = {"reverse": 0.918, "reorder": 1.000}  # the attention baseline (its own run)
TIME_WITHIN = 1.2
RESULTS = Path(__file__).with_name("seq2seq_results.json")
MODELS = {"defaults": {}, "no attention": {"attention": "none"}}


def zoo_run(name, variant, seed, root):
    config = TrainConfig(task="seq2seq", dataset=name, seed=seed, epochs=EPOCHS, **MODELS[variant],
                         **QUICK_LIMITS)
    run_dir = train(config, run_dir=Path(root) / f"{name}-{variant.replace(' ', '_')}-{seed}", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    settings = json.loads((run_dir / "config.json").read_text())
    with open(run_dir / "history.csv") as f:  # the best epoch's, as a run with a validation split keeps it
        validation = max(float(row["val_exact_match"]) for row in csv.DictReader(f))
    return {"exact_match": metrics["test"]["exact_match"], "error_rate": metrics["test"].get("error_rate"),
            "validation_exact_match": validation, "seconds": metrics["train_seconds"],
            "attention": settings["attention"], "cell": settings["cell"], "units": settings["units"]}


def keras_baseline(spec, units=64):
    """A GRU encoder whose steps a GRU decoder's steps attend to (dot product), as the Keras examples
    write it: keras.layers.Attention, the decoder's state and its context side by side, a softmax."""
    source = keras.Input((None,), dtype="int32", name="source")
    tokens = keras.Input((None,), dtype="int32", name="decoder_input")
    x = keras.layers.Embedding(spec.input_vocab_size, units, mask_zero=True)(source)
    encoded, state = keras.layers.GRU(units, return_sequences=True, return_state=True)(x)
    y = keras.layers.Embedding(spec.num_outputs, units, mask_zero=True)(tokens)
    decoded = keras.layers.GRU(units, return_sequences=True)(y, initial_state=state)
    context = keras.layers.Attention()([decoded, encoded])
    joined = keras.layers.Concatenate()([decoded, context])
    return keras.Model([source, tokens], keras.layers.Dense(spec.num_outputs, activation="softmax")(joined))


def baseline_run(name, seed):
    data = load_data(TrainConfig(task="seq2seq", dataset=name, seed=seed, **QUICK_LIMITS).resolved())
    keras.utils.set_random_seed(seed)
    model = keras_baseline(data.spec)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, batch_size=64, epochs=EPOCHS, verbose=0,
              validation_data=(data.x_val, data.y_val))
    seconds = time.perf_counter() - started
    vocab = data.output_vocab
    decode = decoder(model, vocab, data.spec.max_output_len)
    test = decoding_scores(decode, data.x_test[0], data.y_test, vocab.id(vocab.EOS))
    validation = decoding_scores(decode, data.x_val[0], data.y_val, vocab.id(vocab.EOS))
    return {"exact_match": test["exact_match"], "error_rate": test.get("error_rate"),
            "validation_exact_match": validation["exact_match"], "seconds": seconds}


def _spread(values, digits=3):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


HEADER = ["data set", "model", f"test exact match ({len(SEEDS)} seeds)", "error rate",
          "validation exact match", "train s"]


def table(figures):
    rows = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines = []
    for name, models in figures.items():
        for model, runs in models.items():
            label = model if model != "defaults" else f"defaults (attention {runs[0]['attention']})"
            rows.append("| " + " | ".join([
                name, label, _spread([r["exact_match"] for r in runs]),
                _spread([r["error_rate"] for r in runs]) if runs[0].get("error_rate") is not None else "n/a",
                _spread([r["validation_exact_match"] for r in runs]),
                _spread([r["seconds"] for r in runs], 0)]) + " |")
        mean = {model: statistics.mean(r["exact_match"] for r in runs) for model, runs in models.items()}
        seconds = {model: statistics.mean(r["seconds"] for r in runs) for model, runs in models.items()}
        ratio = seconds["defaults"] / seconds["no attention"]
        if name in TARGETS:
            met = mean["defaults"] >= TARGETS[name]
            lines.append(f"- {name}: defaults {mean['defaults']:.3f} against the issue's attention "
                         f"baseline {TARGETS[name]:.3f}: {'met' if met else 'missed'}; the Keras attention "
                         f"model of this run {mean['keras attention']:.3f}; training time {ratio:.2f}x the "
                         f"model without attention ({'met' if ratio <= TIME_WITHIN else 'missed'}, target "
                         f"{TIME_WITHIN}x).")
        else:
            lines.append(f"- {name}: defaults {mean['defaults']:.3f}, without attention "
                         f"{mean['no attention']:.3f}, Keras attention model {mean['keras attention']:.3f}; "
                         f"time {ratio:.2f}x.")
    lines.append(f"- Every model: {EPOCHS} epochs, batch 64, the data set's own splits; greedy decoding. "
                 "The zoo's are `make train TASK=seq2seq DATASET=<set> EPOCHS=10` (its defaults: LSTM of "
                 "64, rate 3e-3); the Keras model is a GRU of 64 with keras.layers.Attention at Adam's 1e-3.")
    return "\n".join(rows) + "\n\n" + "\n".join(lines)


def main():
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-seq2seq-") as root:
        for name in SETS:
            figures[name] = {model: [] for model in (*MODELS, "keras attention")}
            for seed in SEEDS:
                for variant in MODELS:
                    figures[name][variant].append(zoo_run(name, variant, seed, root))
                    print(name, variant, seed, figures[name][variant][-1], flush=True)
                figures[name]["keras attention"].append(baseline_run(name, seed))
                print(name, "keras attention", seed, figures[name]["keras attention"][-1], flush=True)
    text = table(figures)
    print(text)
    if not QUICK:
        publish("bench-seq2seq", text, figures, RESULTS)
        print(f"Wrote {RESULTS} and the tables in {README.name} and {RESULTS_MD.name}.")


if __name__ == "__main__":
    main()
