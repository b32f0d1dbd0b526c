"""make bench-tagging: the tagger's defaults on the bundled Turkish Web Treebank (universal POS), with and
without the convolution over each word's characters, beside the most frequent tag of each word.

Both are `make train PRESET=turkish_web_treebank_bilstm SEED=<seed>` (the task's defaults: 64 filters
over the characters), the second with CHARACTERS=0 (the word ids alone), three seeds each on the
treebank's own split. Besides token accuracy, the accuracy on test words the vocabulary does not know
(<unk>: unseen in training, or seen once) is what the characters are for. Target (issues 15 and 25):
0.94. Writes the table into docs/pages/benchmarks/tagging.md between its markers, the figures into
bench/tagging_results.json and the preset's into zoo/preset_results.json. QUICK=1: one seed, 2 epochs,
400 sentences.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import csv  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.published import PUBLISHED  # noqa: E402
from bench.readme_tables import page, publish  # noqa: E402
from zoo.presets import RESULTS_FILE, get_preset  # noqa: E402
from zoo.text import word_ids  # noqa: E402
from zoo.training import TrainConfig, load_data, train  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
PRESET = "turkish_web_treebank_bilstm"
SEEDS = (42,) if QUICK else (42, 1, 2)
QUICK_LIMITS = {"epochs": 2, "limit": 400} if QUICK else {}
TARGET = 0.94
RESULTS = Path(__file__).with_name("tagging_results.json")
VARIANTS = {"characters": {}, "words": {"characters": 0}}


def run(variant, seed, root):
    """One training run; its test accuracy over every word and over the words the vocabulary lacks."""
    config = TrainConfig(**{**get_preset(PRESET).config(seed=seed).__dict__, **VARIANTS[variant],
                            **QUICK_LIMITS})
    run_dir = train(config, run_dir=Path(root) / f"{variant}-{seed}", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    settings = json.loads((run_dir / "config.json").read_text())
    data = load_data(TrainConfig(**settings))  # as the run read it
    guesses = keras.saving.load_model(run_dir / "model.keras").predict(data.x_test, verbose=0).argmax(-1)
    words = word_ids(data.x_test)
    unknown = words == data.input_vocab.id(data.input_vocab.UNK)
    with open(run_dir / "history.csv") as f:  # the epoch kept: the lowest validation loss
        kept = min(csv.DictReader(f), key=lambda row: float(row["val_loss"]))
    figures = {"accuracy": metrics["test"]["accuracy"], "validation": float(kept["val_accuracy"]),
               "unknown_accuracy": float(np.mean(guesses[unknown] == data.y_test[unknown])),
               "seconds": metrics["train_seconds"], "epochs": metrics["epochs"],
               "unknown_share": float(unknown.sum() / (words > 0).sum()),
               "characters": settings["characters"], "dropout": settings["dropout"]}
    print(f"{variant} seed {seed}: {figures}", flush=True)
    return figures, data


def most_frequent_tag(data):
    """Test token accuracy of each word's most frequent training tag (else the most frequent tag)."""
    train_words, test_words = word_ids(data.x_train), word_ids(data.x_test)
    counts = {}
    for word, tag in zip(train_words[train_words > 0], data.y_train[train_words > 0]):
        counts.setdefault(int(word), Counter())[int(tag)] += 1
    fallback = Counter(data.y_train[train_words > 0].tolist()).most_common(1)[0][0]
    real = test_words > 0
    guesses = [counts[w].most_common(1)[0][0] if w in counts else fallback for w in test_words[real].tolist()]
    return float(np.mean(np.array(guesses) == data.y_test[real]))


def _spread(values, digits=3):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(figures):
    """bench-tagging's table of bench/tagging_results.json."""
    header = ["model", "validation accuracy", "test token accuracy", "words the vocabulary lacks",
              f"target: at least {TARGET}", "train s", "epochs", "seeds"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    names = {"characters": f"defaults (`PRESET={PRESET}`): word embedding and {{characters}} filters over "
                           "its characters, bidirectional LSTM 64, dropout {dropout:g}",
             "words": "the same, word ids only (`CHARACTERS=0`)"}
    for variant, runs in figures["runs"].items():
        accuracy = [r["accuracy"] for r in runs]
        gap = TARGET - statistics.mean(accuracy)
        rows.append("| " + " | ".join([
            names[variant].format(**runs[0]), _spread([r["validation"] for r in runs]), _spread(accuracy),
            _spread([r["unknown_accuracy"] for r in runs]), "met" if gap <= 0 else f"missed by {gap:.3f}",
            _spread([r["seconds"] for r in runs], 0), _spread([r["epochs"] for r in runs], 0),
            ", ".join(map(str, figures["seeds"]))]) + " |")
    rows.append(f"| most frequent tag of the word in training (else the most frequent tag) | - | "
                f"{figures['most_frequent_tag']:.3f} | - | - | - | - | - |")
    rows.append(f"| Stanza BiLSTM, UD Turkish-IMST, UPOS from raw text (published; another treebank) | - | "
                f"{PUBLISHED['stanza_imst_upos']:.3f} | - | - | - | - | - |")
    share = statistics.mean(r["unknown_share"] for r in figures["runs"]["characters"])
    return "\n".join(rows) + (f"\n\n{share:.1%} of the test words are ones the vocabulary lacks (unseen in "
                              "training, or seen once: those become `<unk>`).")


def main():
    figures = {"seeds": list(SEEDS), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-tagging-") as root:
        for variant in VARIANTS:
            measured = [run(variant, seed, root) for seed in SEEDS]
            figures["runs"][variant] = [f for f, _ in measured]
        figures["most_frequent_tag"] = most_frequent_tag(measured[0][1])
    text = table(figures)
    print(text)
    if QUICK:
        return
    publish("bench-tagging", text, figures, RESULTS)
    accuracy = [r["accuracy"] for r in figures["runs"]["characters"]]
    presets = json.loads(RESULTS_FILE.read_text())
    presets[PRESET] = {"baseline": f"most frequent tag {figures['most_frequent_tag']:.3f}",
                       "met": statistics.mean(accuracy) >= TARGET, "metric": "accuracy",
                       "seeds": len(accuracy), "target": f"at least {TARGET}", "test": _spread(accuracy)}
    RESULTS_FILE.write_text(json.dumps(presets, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {RESULTS}, {RESULTS_FILE.name} and the table in {page('bench-tagging')}.")


if __name__ == "__main__":
    main()
