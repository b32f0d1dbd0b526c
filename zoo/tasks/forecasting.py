"""forecasting: many series -> the next `horizon` values of each, with prediction intervals.

One global network is trained across every series (zoo.windows draws its windows), reading each
context window relative to its last value and typical step (zoo.layers.WindowScaler), and answering
the whole path at once from the seasonal naive one: `horizon` steps x the quantiles of the interval
levels (80 and 95 by default), which never cross (zoo.layers.QuantileOutput). The whole path at once
(a multi-horizon head, as MQ-RNN does) rather than step by step (as DeepAR does): one pass per
forecast, and no step's error fed to the next.

The protocol is the field's: the last `horizon` values of every series are the test window (or
`backtest` rolling ones), the `horizon` before them validation; training windows end before both.
The run scores the test windows (MAE, RMSE, MASE, sMAPE, scaled quantile loss, coverage; zoo.scores)
beside statsforecast's baselines fitted on the same cut-off (zoo.baselines), and writes
forecasts.csv and forecasts.png.
"""

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo import files
from zoo.architecture import recurrent_stack, require_positive_int
from zoo.data import PAD_VALUE, Dataset, DataSpec
from zoo.errors import ZooError
from zoo.files.long import EXTENSIONS, read_long
from zoo.panel import Panel, offset, season_length
from zoo.quantiles import (
    DEFAULT_LEVELS,
    DISTRIBUTIONS,
    STUDENT_T_DF,
    check_distribution,
    quantiles_of,
    standard_quantiles,
    weighs_by_scale,
)
from zoo.registry import Task, register
from zoo.scores import columns, mase_scales, score

if TYPE_CHECKING:  # imported where it is used: it loads TensorFlow
    from zoo.windows import Exogenous

# The horizon when none is given, by the data's frequency: the M4 competition's (yearly 6,
# quarterly 8, monthly 18, weekly 13, daily 14, hourly 48), and a day for finer steps.
HORIZONS = {"YearBegin": 6, "YearEnd": 6, "QuarterBegin": 8, "QuarterEnd": 8, "MonthBegin": 18,
            "MonthEnd": 18, "Week": 13, "Day": 14, "BusinessDay": 14, "Hour": 48}
# The most batches of windows an epoch has (counted in batches, as neuralforecast counts training in
# steps, not in passes over the windows: ten thousand long series are not read whole each epoch).
WINDOW_BATCHES = 50
AEON_DATA = "aeon's bundled copy"


def default_horizon(freq):
    step = offset(freq)
    return HORIZONS.get(type(step).__name__, season_length(freq) if season_length(freq) > 1 else 48)


def default_input_size(horizon, season):
    """Two horizons, or two seasons where a season is longer: the context a window reads."""
    return max(2 * horizon, 2 * season if season > 1 else 0)


@dataclass(frozen=True)
class Series:
    """What the forecasting hooks read beside the arrays: the whole panel and the protocol's sizes.

    backtest: test windows, each `step` values before the next (rolling origins, the last one at the
    end of every series); validation is the `horizon` before the earliest, and training ends there.
    """

    panel: Panel
    horizon: int
    input_size: int
    levels: tuple
    season: int
    backtest: int = 1
    step: int = 0
    exogenous: "Exogenous | None" = None
    distribution: str = "quantiles"

    def windows(self, cut):
        """origin_windows at `cut` values before every series' end, with this data's covariates."""
        from zoo.windows import origin_windows

        return origin_windows(self.panel, cut, self.input_size, self.horizon, self.exogenous,
                              weighs_by_scale(self.distribution))

    def head(self, count):
        return replace(self, panel=self.panel.head(count))

    @property
    def cuts(self):
        """Values cut from every series' end at each test origin, the earliest origin first."""
        return [self.horizon + k * self.step for k in reversed(range(self.backtest))]

    @property
    def validation_cut(self):
        return self.cuts[0] + self.horizon

    def at(self, cut):
        """(every series up to the origin `cut` values before its end, as a Panel of its own, and the
        `horizon` values after it)."""
        return self.panel.cut(cut), self.panel.tails(self.horizon, before=cut - self.horizon)


def build(spec, arch):
    """context [batch, steps, 1] (NaN or PAD_VALUE where missing) -> [batch, horizon, quantiles].

    A recurrent encoder reads the scaled window, skipping missing steps; its last state, and a linear
    map of the window's last `input_size` steps (a skip that gives seasonal and trend terms a straight
    path), give every quantile of every step, added to the seasonal naive path. Both start at zero: an
    untrained model forecasts the seasonal naive (the last value where the season is 1). Trained on
    windows of `input_size` steps, it reads a context of any length (missing steps in front of a short
    one).

    With covariates (spec.exogenous), the context carries them after the series, and the model takes
    `future` (future-known covariates over the horizon), `static` and `calendar` inputs as well
    (zoo.windows): the encoder reads every step's covariates beside its value, and each forecast step
    adds a term of its own read from the encoder's state, that step's future covariates and the
    statics (MQ-RNN's local decoder), which starts at zero too.
    """
    import keras

    from zoo.layers import (
        CalendarFeatures,
        Covariates,
        DistributionOutput,
        LastSteps,
        QuantileOutput,
        SeasonalNaive,
        WindowScaler,
    )

    distribution = spec.distribution or "quantiles"
    # What each forecast step's head answers: every quantile, or a distribution's centre and spread.
    width = len(spec.quantiles) if distribution == "quantiles" else 2
    exogenous = spec.exogenous or {}
    hist, futr, stat, periods = (exogenous.get(k, []) for k in ("hist", "futr", "stat", "periods"))
    context = keras.Input(shape=(None, 1 + len(hist) + len(futr)), name="context")
    inputs = [context]
    steps, loc, scale = WindowScaler(PAD_VALUE / 2, name="scale_window")(context)
    seen = steps[:, :, 1:]
    encoded, local = [steps], []
    if hist or futr:
        past = Covariates(exogenous["mean"], exogenous["std"], PAD_VALUE / 2, name="past_covariates")(
            context[:, :, 1:])
        encoded.append(past)
    if futr:
        future = keras.Input(shape=(spec.horizon, len(futr)), name="future")
        inputs.append(future)
        local.append(Covariates(exogenous["mean"][len(hist):], exogenous["std"][len(hist):], PAD_VALUE / 2,
                                name="future_covariates")(future))
    if stat:
        static = keras.Input(shape=(len(stat),), name="static")
        inputs.append(static)
        statics = Covariates(exogenous["static_mean"], exogenous["static_std"], PAD_VALUE / 2,
                             name="static_covariates")(static)
        encoded.append(keras.ops.ones_like(context[:, :, :1]) * statics[:, None, :])
        local.append(keras.layers.RepeatVector(spec.horizon, name="static_ahead")(statics))
    if periods:
        calendar = keras.Input(shape=(len(periods),), name="calendar")
        inputs.append(calendar)
        waves_past, waves_future = CalendarFeatures(periods, spec.horizon, name="calendar_waves")(
            [calendar, context])
        encoded.append(waves_past)
        local.append(waves_future)
    # A missing step is all zeros (its covariates too): masked, so the encoder carries its state over
    # it, and a short context reads exactly as one with missing values in front.
    reads = keras.layers.Concatenate(name="step_features")(encoded) if len(encoded) > 1 else steps
    if len(encoded) > 1:
        reads = keras.layers.Multiply(name="only_observed")([reads, seen])
    masked = keras.layers.Masking(0.0, name="skip_missing")(reads)
    state = recurrent_stack(masked, arch, return_sequences=False)
    raw = keras.layers.Dense(spec.horizon * width, kernel_initializer="zeros", name="from_state")(state)
    skip = keras.layers.Dense(spec.horizon * width, kernel_initializer="zeros", name="from_window")(
        LastSteps(spec.input_size, name="window")(steps))
    terms = [raw, skip]
    if local:
        per_step = keras.layers.Concatenate(name="step_ahead_features")(
            [keras.layers.RepeatVector(spec.horizon, name="state_ahead")(state), *local])
        hidden = keras.layers.Dense(arch.layer_units[-1], activation="relu", name="local_hidden")(per_step)
        ahead = keras.layers.Dense(width, kernel_initializer="zeros", name="local")(hidden)
        terms.append(keras.layers.Reshape((spec.horizon * width,), name="local_path")(ahead))
    raw = keras.layers.Add(name="path_scaled")(terms)
    base = SeasonalNaive(spec.season_length, spec.horizon, name="seasonal_naive")(steps)
    if distribution == "quantiles":
        head = QuantileOutput(spec.horizon, spec.quantiles, name="forecast")
    else:
        head = DistributionOutput(spec.horizon, standard_quantiles(spec.quantiles, distribution),
                                  name="forecast")
    outputs = head([raw, loc, scale, base])
    # One input stays a tensor, not a list of one (Keras warns when called with the tensor).
    return keras.Model(inputs if len(inputs) > 1 else context, outputs, name="forecasting")


def loss(spec):
    """pinball over the interval quantiles, scaled per window, or a distribution head's negative
    log-likelihood: the loss forecasting trains with."""
    from zoo.layers import NegativeLogLikelihood, PinballLoss

    distribution = spec.distribution or "quantiles"
    if distribution == "quantiles":
        return PinballLoss(spec.quantiles), []
    standard = standard_quantiles(spec.quantiles, distribution)
    return NegativeLogLikelihood(standard, STUDENT_T_DF if distribution == "student_t" else None), []


def searched_options(data):
    """What a search varies beside the architecture: the context (1 to 4 times the longer of the
    horizon and the season; the default is 2) and the head (free quantiles or a distribution's)."""
    unit = max(data.spec.horizon, data.spec.season_length)
    return {"input_size": [k * unit for k in (1, 2, 3, 4)], "distribution": list(DISTRIBUTIONS)}


def validation_mase(data):
    """A Keras callback that adds `val_mase` (the mean MASE over every series' validation window) to
    each epoch's logs: what a search minimises, comparable between trials of other context sizes and
    heads, as the validation loss is not (pinball and log-likelihood are on other scales)."""
    import keras

    series = data.series
    history, actual = series.at(series.validation_cut)
    scales, x = mase_scales(history, series.season), series.windows(series.validation_cut)[0]

    class ValidationMASE(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            paths = self.model.predict(x, batch_size=256, verbose=0)
            logs[validation_mase.name] = score(actual, paths, scales, series.levels)["mase"]

    return ValidationMASE()


validation_mase.name = "val_mase"


def panel_dataset(name, panel, horizon=None, input_size=None, levels=DEFAULT_LEVELS, season=None, notes=None,
                  backtest=1, step=None, calendar=False, distribution="quantiles"):
    """The forecasting Dataset of a panel: the protocol's windows per series, and the panel.

    The arrays hold, per series: a training window (the last before validation), the validation
    window and the last test window; the Series beside them gives every backtest window.
    """
    from zoo.windows import Exogenous, trainable

    horizon = horizon or default_horizon(panel.freq)
    season = season or season_length(panel.freq)
    input_size = input_size or default_input_size(horizon, season)
    step = step or horizon
    for setting, value in (("horizon", horizon), ("input_size", input_size), ("backtest", backtest),
                           ("step", step)):
        require_positive_int(setting, value)
    levels = tuple(sorted(levels))
    if not all(0 < level < 100 for level in levels):
        raise ZooError(f"levels are interval widths in percent, each between 0 and 100; got {levels}.")
    series = Series(panel, horizon, input_size, levels, season, backtest, step,
                    distribution=check_distribution(distribution))
    held_out = series.validation_cut
    exogenous = Exogenous.of(panel, held_out, calendar)
    series = replace(series, exogenous=exogenous)
    if int(panel.lengths.max()) <= held_out:
        raise ZooError(f"Every series has at most {int(panel.lengths.max())} values: none is longer than "
                       f"the {held_out} held out for validation and {backtest} test window(s) of "
                       f"horizon={horizon}. Give a shorter horizon or fewer backtest windows.")
    # A context step holds the series, then its past-only and future-known covariates.
    width = 1 + len(panel.hist) + len(panel.futr)
    spec = DataSpec(kind="regression", num_outputs=horizon, num_features=width, horizon=horizon,
                    input_size=input_size, quantiles=quantiles_of(levels), season_length=season,
                    exogenous=exogenous.describe(), distribution=distribution)
    (x_train, y_train), (x_val, y_val), (x_test, _) = [series.windows(cut)[:2]
                                                       for cut in (held_out + horizon, held_out, horizon)]
    y_test = panel.tails(horizon)  # NaN where unknown: left out of every score
    skipped = len(panel) - len(trainable(panel, held_out))
    return Dataset(name, spec, x_train, y_train, x_val, y_val, x_test, y_test, series=series,
                   notes={**(notes or {}), **panel.describe(), "horizon": horizon, "input_size": input_size,
                          "season_length": season, "levels": list(levels), "backtest": backtest,
                          "step": step, "distribution": distribution,
                          "series_without_training_windows": skipped,
                          **({"calendar": [n for n, _ in exogenous.cycles]} if exogenous.cycles else {})})


def batches_per_epoch(series):
    """An epoch's batches: one per two windows that do not overlap (values before validation, over
    input_size + horizon, summed over series), at most WINDOW_BATCHES. Windows drawn from one short
    series overlap almost entirely: drawn 1,500 times they are learnt by heart (validation MASE of
    airline 1.44 at 50 batches an epoch, 1.07 with this rule's 1), while many series want every batch
    (M1 yearly: 50 either way)."""
    lengths = np.maximum(series.panel.lengths - series.validation_cut, 0)
    apart = float(np.sum(lengths)) / (series.input_size + series.horizon)
    return int(np.clip(math.ceil(apart / 2), 1, WINDOW_BATCHES))


def windows(data, config):
    """What fit reads: training windows drawn on the fly, and the validation window of every series
    with its weights. Returns (train pipeline, validation (x, y, weight), batches per epoch)."""
    from zoo.windows import training_windows

    series = data.series
    skipped = data.notes["series_without_training_windows"]
    if skipped:
        print(f"{skipped} of {len(series.panel)} series are too short for a training window before the "
              "validation and test windows: they are not trained on, and still get forecasts.")
    steps = batches_per_epoch(series)
    train = training_windows(series.panel, series.input_size, series.horizon, config.batch_size,
                             steps, config.seed, held_out=series.validation_cut, exogenous=series.exogenous,
                             per_scale=weighs_by_scale(series.distribution))
    validation = series.windows(series.validation_cut)
    return train, validation, steps


def evaluate(model, data, config, run_dir):
    """mase, smape, mae, rmse, scaled_ql, coverage beside 5 baselines: scores every test window beside
    statsforecast's baselines fitted at the same origin, writes forecasts.csv and forecasts.png,
    prints a table; returns {"test": the model's scores, "baselines": {name: scores and seconds}},
    each the mean over the backtest windows, and with several windows "windows": each one's."""
    from zoo import baselines

    series = data.series
    rows, per_window = [], []
    for cut in series.cuts:
        history, actual = series.at(cut)
        scales = mase_scales(history, series.season)
        paths = model.predict(series.windows(cut)[0], batch_size=config.batch_size, verbose=0)
        scored = {"cutoff_steps_before_end": cut, "test": score(actual, paths, scales, series.levels),
                  "baselines": {}}
        future = series.panel.exog_tails(series.horizon, before=cut - series.horizon) \
            if series.panel.futr else None
        for name, (baseline, seconds) in baselines.forecast(history, series.horizon, series.season,
                                                            series.levels, future=future).items():
            scored["baselines"][name] = {**score(actual, baseline, scales, series.levels), "seconds": seconds}
        per_window.append(scored)
        rows += _forecast_rows(series, history, actual, paths)
    results = {"test": _mean([w["test"] for w in per_window]),
               "baselines": {name: _mean([w["baselines"][name] for w in per_window])
                             for name in per_window[0]["baselines"]}}
    if series.backtest > 1:
        results["windows"] = per_window
    _write_forecasts(run_dir / "forecasts.csv", series, rows)
    _plot(run_dir / "forecasts.png", series, paths)
    _print_scores(results, series.backtest)
    return results


def _mean(scores):
    return {name: float(np.mean([s[name] for s in scores])) for name in scores[0]}


def _csv_columns(levels):
    """forecasts.csv's forecast columns, in statsforecast's order: forecast, lo-80, hi-80, lo-95, hi-95."""
    return ["forecast"] + [f"{side}-{level:g}" for level in levels for side in ("lo", "hi")]


def _forecast_rows(series, history, actual, paths):
    named = columns(paths, series.levels)
    order = _csv_columns(series.levels)
    rows = []
    for i, name in enumerate(series.panel.ids):
        dates = history.dates(i, extra=series.horizon)
        cutoff = dates[-series.horizon - 1] if len(dates) > series.horizon else None
        for step, ds in enumerate(dates[-series.horizon:]):
            y = actual[i, step]
            rows.append([name, ds.isoformat(), cutoff.isoformat() if cutoff is not None else "",
                         "" if math.isnan(y) else f"{y:g}",
                         *(f"{named[column][i, step]:.6g}" for column in order)])
    return rows


def _write_forecasts(path, series, rows):
    """forecasts.csv: unique_id, ds, cutoff (the last value the forecast read), y, forecast, lo-80, ..."""
    from zoo.training import replacing

    with replacing(Path(path)) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unique_id", "ds", "cutoff", "y", *_csv_columns(series.levels)])
        writer.writerows(rows)


def _plot(path, series, paths, count=4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = columns(paths, series.levels)
    shown = min(count, len(series.panel))
    figure, axes = plt.subplots(shown, 1, figsize=(8, 2.6 * shown), squeeze=False)
    for i, axis in enumerate(axes[:, 0]):
        dates = series.panel.dates(i)
        axis.plot(dates, series.panel.series(i), color="black", linewidth=1, label="y")
        future = dates[-series.horizon:]
        for level, alpha in zip(sorted(series.levels, reverse=True), (0.2, 0.35, 0.5)):
            axis.fill_between(future, named[f"lo-{level:g}"][i], named[f"hi-{level:g}"][i], alpha=alpha,
                              color="tab:blue", label=f"{level:g}% interval")
        axis.plot(future, named["forecast"][i], color="tab:blue", label="forecast")
        axis.set_title(str(series.panel.ids[i]), fontsize=9)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _print_scores(results, windows):
    names = ["mase", "smape", "mae", "rmse", "scaled_ql", *sorted(k for k in results["test"]
                                                                  if k.startswith("coverage"))]
    rows = [("model", *names), ("rnn-zoo", *(f"{results['test'][n]:.4g}" for n in names))]
    rows += [(name, *(f"{scores[n]:.4g}" for n in names)) for name, scores in results["baselines"].items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(names) + 1)]
    print(f"{'Test window' if windows == 1 else f'Mean of {windows} backtest windows'}, every series "
          "(baselines fitted on the same cut-off):")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


def bundled(name, panel_of, notes, horizon=None):
    """A loader of a bundled panel, taking the forecasting options (horizon, input_size, levels,
    season_length); `horizon` here is the data set's own, where it has one (M1's 6)."""

    def load(seed=0, max_len=None, horizon=horizon, input_size=None, levels=DEFAULT_LEVELS,
             season_length=None, backtest=1, step=None, calendar=False, distribution="quantiles"):
        return panel_dataset(name, panel_of(), horizon, input_size, tuple(levels), season_length, notes,
                             backtest, step, bool(calendar), distribution)

    return load


def _m1_yearly():
    from aeon.datasets import load_forecasting

    frame = load_forecasting("m1_yearly_dataset", return_metadata=False)
    return Panel.from_series({row.series_name: np.asarray(row.series_value, "float32")
                              for row in frame.itertuples()}, "YS",
                             [row.start_timestamp for row in frame.itertuples()])


def _aeon_csv(title, column, freq, first, futr=()):
    """A series of one of aeon's bundled CSV files, with the future-known covariates `futr`."""

    def panel():
        import aeon.datasets
        import pandas as pd

        frame = pd.read_csv(Path(aeon.datasets.__file__).parent / "data" / title / f"{title}.csv")
        name = title.lower()
        return Panel.from_series({name: frame[column].to_numpy("float32")}, freq, [pd.Timestamp(first)],
                                 {name: frame[list(futr)].to_numpy("float32")} if futr else None, (), futr)

    return panel


def _sunspots():
    import pandas as pd
    import statsmodels.api as sm

    values = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy("float32")
    return Panel.from_series({"sunspots": values}, "YS", [pd.Timestamp("1700-01-01")])


def load_long_files(files_, seed=0, max_len=None, id_col="unique_id", time_col="ds", target_col="y",
                    freq=None, horizon=None, input_size=None, levels=DEFAULT_LEVELS, season_length=None,
                    backtest=1, step=None, futr=None, hist=None, stat=None, calendar=False,
                    distribution="quantiles"):
    """Your long-format table: the protocol cuts validation and test from every series' end."""
    if files_.validation is not None or files_.test is not None:
        raise ZooError("Forecasting cuts validation and test windows from the end of every series: give "
                       "one file (DATA=), without VAL_DATA or TEST_DATA.")
    panel = read_long(files_.train, id_col, time_col, target_col, freq, futr, hist, stat)
    data = panel_dataset(files_.name, panel, horizon, input_size, tuple(levels), season_length,
                         {"source": str(files_.train)}, backtest, step, bool(calendar), distribution)
    # As for every file of numbers: no strings in, none out (the text contract of zoo.text).
    return replace(data, text={"input": None, "output": None})


TASK = register(
    Task(
        name="forecasting",
        shape="many series -> the next horizon values of each, with intervals",
        example="demand, load, sensors, prices (unique_id, ds, y tables)",
        build=build,
        datasets={
            "m1_yearly": bundled("m1_yearly", _m1_yearly, {
                "source": "M1 competition, 181 yearly series (Makridakis et al. 1982), " + AEON_DATA,
                "licence": "public competition data"}, horizon=6),
            "airline": bundled("airline", _aeon_csv("Airline", "Passengers", "MS", "1949-01-01"), {
                "source": "monthly airline passengers 1949-1960 (Box and Jenkins), " + AEON_DATA,
                "licence": "public domain series"}),
            "solar": bundled("solar", _aeon_csv("solar", "solar_gen", "30min", "2021-05-01"), {
                "source": "half-hourly solar generation (Sheffield Solar PV_Live), " + AEON_DATA,
                "licence": "CC BY 4.0 (Sheffield Solar)"}),
            # Ex-post forecasts, as Hyndman and Athanasopoulos (FPP3, 7.6) make them: the other series'
            # actual values over the horizon are known.
            "uschange": bundled("uschange", _aeon_csv("Uschange", "Consumption", "QS", "1970-01-01", (
                "Income", "Production", "Savings", "Unemployment")), {
                "source": "quarterly US consumption change 1970-2016 with income, production, savings and "
                          "unemployment as future-known covariates (FPP3), " + AEON_DATA,
                "licence": "public (US federal statistics)"}),
            "sunspots": bundled("sunspots", _sunspots, {"source": "yearly sunspot numbers 1700-2008, "
                                "statsmodels", "licence": "public domain"}),
        },
        default_dataset="m1_yearly",
        regression_datasets=("m1_yearly", "airline", "solar", "sunspots", "uschange"),
        formats=(files.FileFormat("long-format series (unique_id, ds, y)", EXTENSIONS, load_long_files),),
        defaults={"cell": "gru", "units": 64, "epochs": 30, "batch_size": 64, "learning_rate": 3e-3,
                  "schedule": "cosine", "clipnorm": 1.0, "patience": 5},
        loss=loss,
        windows=windows,
        evaluate=evaluate,
        searched_options=searched_options,
        validation_score=validation_mase,
        streams=True,  # its window scaling reads the whole window: zoo.step says so for its export
    )
)
