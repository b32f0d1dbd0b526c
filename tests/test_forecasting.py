"""Forecasting: long-format files and their bad rows, masking and scaling, the protocol's cut-off,
ordered quantiles, windows drawn on the fly, and a run on a file of your own beside the baselines."""

import csv
import json

import keras
import numpy as np
import pandas as pd
import pytest

import zoo
from tests.tiny import TINY
from zoo.data import PAD_VALUE
from zoo.errors import DataFileError, ZooError
from zoo.files.long import read_long
from zoo.layers import QuantileOutput, WindowScaler, window_scale
from zoo.panel import Panel, season_length
from zoo.tasks.forecasting import panel_dataset
from zoo.training import TrainConfig, train
from zoo.windows import training_windows

TASK = zoo.get_task("forecasting")


def _write(path, rows, header="unique_id,ds,y"):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_long_csv_reads_series_of_their_own_starts_and_lengths_with_gaps_as_missing(tmp_path):
    path = _write(tmp_path / "sales.csv", ["b,2020-03-01,5", "a,2020-01-01,1", "a,2020-02-01,2",
                                          "b,2020-04-01,", "a,2020-04-01,4", "b,2020-05-01,7"])
    panel = read_long(path)
    assert panel.ids == ("b", "a") and panel.freq == "MS"
    np.testing.assert_array_equal(panel.series(0), [5, np.nan, 7])  # an empty y is missing
    np.testing.assert_array_equal(panel.series(1), [1, 2, np.nan, 4])  # a skipped month is missing
    assert panel.dates(1)[0] == pd.Timestamp("2020-01-01") and season_length(panel.freq) == 12
    frame = pd.read_csv(path)
    frame["ds"] = pd.to_datetime(frame["ds"])
    frame.to_parquet(tmp_path / "sales.parquet")
    again = read_long(tmp_path / "sales.parquet")
    np.testing.assert_array_equal(again.values, panel.values)


def test_a_table_of_one_series_without_ids_or_dates_still_reads(tmp_path):
    path = _write(tmp_path / "load.csv", ["10", "11", "12.5"], header="y")
    panel = read_long(path, freq="h")
    assert panel.ids == ("load",) and panel.freq == "h" and season_length("h") == 24
    np.testing.assert_array_equal(panel.series(0), [10, 11, 12.5])


@pytest.mark.parametrize(("rows", "line", "message"), [
    (["a,2020-01-01,1", "a,2020-02-01,many"], 3, "y is 'many', not a number"),
    (["a,2020-01-01,1", "a,2020-01-01,2", "a,2020-02-01,3"], 3, "has 2020-01-01 00:00:00 twice"),
    (["a,2020-01-01,1", "a,2020-02-01,2", "a,2020-03-01,3", "a,2020-03-15,4"], 5, "off its frequency MS"),
    (["a,2020-01-01,1", "a,someday,2"], 3, "ds is 'someday', which is not a date"),
])
def test_bad_rows_are_named_by_file_and_line(tmp_path, rows, line, message):
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(DataFileError, match=message) as error:
        read_long(path, freq="MS" if "frequency" in message else None)
    assert error.value.line == line and str(path) in str(error.value)


def test_a_missing_column_names_the_columns_and_the_option(tmp_path):
    path = _write(tmp_path / "x.csv", ["a,2020-01-01,1"], header="id,ds,value")
    with pytest.raises(DataFileError, match="no column 'y' for the target_col.*'id', 'ds', 'value'"):
        read_long(path)
    assert read_long(path, id_col="id", target_col="value", freq="MS").ids == ("a",)


def _random_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def test_missing_values_are_masked_exactly():
    spec = TINY["forecasting"][0]
    model = _random_weights(TASK.build_model(spec, cell="gru", units=4))
    context = np.array([[[3.0], [4.0], [np.nan], [6.0], [5.0]]], dtype="float32")
    padded = np.where(np.isnan(context), PAD_VALUE, context).astype("float32")
    np.testing.assert_allclose(model.predict(context, verbose=0), model.predict(padded, verbose=0), atol=1e-6)
    # A shorter context is the same as one with missing values in front of it.
    np.testing.assert_allclose(model.predict(padded[:, 1:], verbose=0),
                               model.predict(np.concatenate([[[[PAD_VALUE]]], padded[:, 1:]], 1), verbose=0),
                               atol=1e-5)
    # The value in a hole would change the forecast if it were read: it is not.
    filled = np.where(np.isnan(context), 50.0, context).astype("float32")
    assert not np.allclose(model.predict(filled, verbose=0), model.predict(padded, verbose=0))


def test_scaling_round_trips_and_a_fresh_model_forecasts_the_seasonal_naive():
    context = np.array([[1.0, 3.0, np.nan, 4.0], [7.0, 7.0, 7.0, 7.0], [np.nan] * 4], dtype="float32")
    loc, scale = (np.asarray(v) for v in window_scale(context, PAD_VALUE / 2))
    np.testing.assert_allclose(loc[:, 0], [4.0, 7.0, 0.0])
    np.testing.assert_allclose(scale[:, 0], [2.0, 7.0, 1.0])  # mean change; then |loc|; then 1
    steps, loc2, scale2 = (np.asarray(v) for v in WindowScaler(PAD_VALUE / 2)(context[..., None]))
    seen = steps[..., 1] > 0
    np.testing.assert_allclose((steps[..., 0] * scale2 + loc2)[seen], context[seen], rtol=1e-6)
    model = TASK.build_model(TINY["forecasting"][0], units=4)  # output layers start at zero
    paths = model.predict(context[..., None], verbose=0)
    # The seasonal naive path (season 3): the values 3 steps before each; a missing one reads as the last.
    np.testing.assert_allclose(paths[:, :, 1], [[3.0, 4.0], [7.0, 7.0], [0.0, 0.0]], atol=1e-5)


def test_quantiles_never_cross():
    layer = QuantileOutput(3, (0.025, 0.1, 0.5, 0.9, 0.975))
    raw = np.random.default_rng(1).normal(scale=5, size=(64, 15)).astype("float32")
    base = np.random.default_rng(2).normal(size=(64, 3)).astype("float32")
    paths = np.asarray(layer([raw, np.zeros((64, 1), "float32"), np.full((64, 1), 2.0, "float32"), base]))
    assert paths.shape == (64, 3, 5) and np.all(np.diff(paths, axis=-1) > 0)


@pytest.mark.parametrize("distribution", ["normal", "student_t"])
def test_a_distribution_head_answers_its_quantiles_and_its_loss_is_the_log_likelihood(distribution):
    from scipy import stats

    from zoo.layers import DistributionOutput, NegativeLogLikelihood
    from zoo.quantiles import STUDENT_T_DF, quantiles_of, standard_quantiles

    quantiles = quantiles_of((80, 95))
    standard = standard_quantiles(quantiles, distribution)
    rng = np.random.default_rng(4)
    raw = rng.normal(scale=3, size=(16, 6)).astype("float32")
    base = rng.normal(size=(16, 3)).astype("float32")
    loc, scale = np.full((16, 1), 50.0, "float32"), np.full((16, 1), 4.0, "float32")
    paths = np.asarray(DistributionOutput(3, standard)([raw, loc, scale, base]))
    assert np.all(np.diff(paths, axis=-1) > 0)
    centre = 50 + 4 * (raw.reshape(16, 3, 2)[..., 0] + base)
    spread = 4 * np.log1p(np.exp(raw.reshape(16, 3, 2)[..., 1] + np.log(np.e - 1)))
    law = stats.norm if distribution == "normal" else stats.t(STUDENT_T_DF)
    np.testing.assert_allclose(paths, centre[..., None] + spread[..., None] * law.ppf(quantiles), rtol=1e-4)
    # The loss reads the centre and the spread back from the quantiles: the log-density up to a constant.
    loss = NegativeLogLikelihood(standard, STUDENT_T_DF if distribution == "student_t" else None)
    y = (centre + spread * rng.normal(size=centre.shape)).astype("float32")
    nll = np.asarray(loss.call(y, paths))
    exact = -law.logpdf((y - centre) / spread) + np.log(spread)
    np.testing.assert_allclose(nll - exact, np.full_like(nll, (nll - exact).mean()), atol=1e-3)


def test_a_distribution_head_trains_on_unscaled_weights_and_exports_as_keras_computes(tmp_path):
    from export import export_model
    from tests.tiny import _contract, forecast_spec

    panel = Panel.from_series({"s": (100 + np.arange(60) * 3.0).astype("float32")}, "D")
    pinball, likelihood = (panel_dataset("trend", panel, horizon=3, input_size=6, distribution=d).series
                           for d in ("quantiles", "student_t"))
    weights = [series.windows(series.validation_cut)[2] for series in (pinball, likelihood)]
    np.testing.assert_allclose(weights[0], 1 / 3)  # 1 / the window's mean step
    np.testing.assert_allclose(weights[1], 1.0)  # a likelihood's gradient is the same in any units
    spec = forecast_spec(distribution="student_t")
    model = _random_weights(TASK.build_model(spec, cell="gru", units=4))
    source = 100 + np.random.default_rng(0).normal(size=(6, 7, 1)).cumsum(axis=1).astype("float32")
    source[1, :3] = PAD_VALUE
    version = export_model(model, TASK, _contract(spec), source, tmp_path, "t")
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["verification"]["passed"] and {"savedmodel", "onnx", "litert"} <= set(
        metadata["verification"]["max_abs_diff"])


def _positions_panel(lengths):
    """Series whose values are their own positions (0, 1, ...): a window shows where it was cut."""
    return Panel.from_series({f"s{i}": np.arange(n, dtype="float32") for i, n in enumerate(lengths)}, "D")


def test_the_cut_off_is_exactly_the_horizon_and_training_windows_never_reach_it():
    horizon, lengths = 3, [20, 9, 40]
    data = panel_dataset("positions", _positions_panel(lengths), horizon=horizon, input_size=5)
    for row, n in enumerate(lengths):
        np.testing.assert_array_equal(data.y_test[row], np.arange(n - horizon, n))
        np.testing.assert_array_equal(data.x_test[row, -1, 0], n - horizon - 1)  # the context ends at the cut
        np.testing.assert_array_equal(data.x_val[row, -1, 0], n - 2 * horizon - 1)
        assert len(data.series.at(horizon)[0].series(row)) == n - horizon  # what the baselines are fitted on
    assert data.series.validation_cut == 2 * horizon
    windows = training_windows(data.series.panel, 5, horizon, batch_size=32, steps=40, seed=3,
                               held_out=2 * horizon)
    for context, target, weight in windows:
        ends = np.array([n - 2 * horizon for n in lengths])
        seen = np.concatenate([context.numpy()[..., 0][np.isfinite(context.numpy()[..., 0])],
                               target.numpy()[weight.numpy() > 0]])
        assert seen.max() < ends.max()
        # Each window is consecutive values of one series: context then target.
        last = context.numpy()[:, -1, 0]
        np.testing.assert_array_equal(target.numpy()[:, 0][weight.numpy()[:, 0] > 0],
                                      (last + 1)[weight.numpy()[:, 0] > 0])


def test_windows_are_drawn_anew_each_epoch_and_the_same_for_a_seed():
    panel = _positions_panel([50, 60])

    def epochs(seed):
        pipeline = training_windows(panel, 4, 2, batch_size=8, steps=2, seed=seed)
        return [np.concatenate([c.numpy().ravel() for c, _, _ in pipeline]) for _ in range(2)]

    first, second = epochs(5)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(epochs(5)[0], first)


def test_a_horizon_longer_than_every_series_is_refused():
    with pytest.raises(ZooError, match="none is longer than the 10 held out for validation and 1 test"):
        panel_dataset("short", _positions_panel([6, 8]), horizon=5)


def _demand(path):
    """Three monthly series with a trend and a season: one with a gap, one too short to train on."""
    rng = np.random.default_rng(0)
    rows = []
    series = (("north", 60, "2018-01-01"), ("south", 40, "2019-07-01"), ("tiny", 8, "2022-01-01"))
    for name, n, start in series:
        dates = pd.date_range(start, periods=n, freq="MS")
        level = 100 + np.arange(n) * 2 + 10 * np.sin(np.arange(n) * 2 * np.pi / 12) + rng.normal(size=n)
        rows += [f"{name},{d.date()},{'' if (name == 'north' and i == 10) else f'{v:.2f}'}"
                 for i, (d, v) in enumerate(zip(dates, level))]
    return _write(path, rows)


def test_a_run_on_your_file_forecasts_every_series_beside_the_baselines(tmp_path):
    path = _demand(tmp_path / "demand.csv")
    config = TrainConfig(task="forecasting", data=str(path), epochs=2, units=8, options={"horizon": 4})
    run_dir = train(config, run_dir=tmp_path / "run", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["baselines"]) == {"Naive", "SeasonalNaive", "AutoETS", "AutoTheta", "AutoARIMA"}
    for scores in (metrics["test"], *metrics["baselines"].values()):
        assert scores["mase"] > 0 and 0 <= scores["coverage_80"] <= scores["coverage_95"] <= 1
    assert metrics["data"]["series"] == 3 and metrics["data"]["missing"] == 1
    assert metrics["data"]["series_without_training_windows"] == 1  # "tiny": 8 values, 2 x 4 held out
    with open(run_dir / "forecasts.csv") as f:
        forecasts = list(csv.DictReader(f))
    assert list(forecasts[0]) == ["unique_id", "ds", "cutoff", "y", "forecast", "lo-80", "hi-80", "lo-95",
                                  "hi-95"]
    assert [row["ds"][:10] for row in forecasts if row["unique_id"] == "south"] == [
        d.strftime("%Y-%m-%d") for d in pd.date_range("2022-07-01", periods=4, freq="MS")]
    for row in forecasts:
        bounds = [float(row[k]) for k in ("lo-95", "lo-80", "forecast", "hi-80", "hi-95")]
        assert bounds == sorted(bounds)
    assert (run_dir / "forecasts.png").stat().st_size > 0
    reloaded = keras.saving.load_model(run_dir / "model.keras")
    assert reloaded.output_shape == (None, 4, 5)


def test_a_backtest_scores_rolling_origins_and_trains_before_the_earliest(tmp_path):
    data = panel_dataset("positions", _positions_panel([30, 24]), horizon=3, input_size=4, backtest=3, step=2)
    series = data.series
    assert series.cuts == [7, 5, 3] and series.validation_cut == 10
    history, actual = series.at(7)
    np.testing.assert_array_equal(actual[0], [23, 24, 25])  # 30 values, the last 7 cut: 23, 24, 25 follow
    np.testing.assert_array_equal(data.x_val[0, -1, 0], 19)  # validation reads up to 20 of 30
    path = tmp_path / "positions.csv"
    frame = pd.DataFrame([(name, d, v) for i, name in enumerate(series.panel.ids)
                          for d, v in zip(series.panel.dates(i), series.panel.series(i))],
                         columns=["unique_id", "ds", "y"])
    frame.to_csv(path, index=False)
    config = TrainConfig(task="forecasting", data=str(path), epochs=1, units=4,
                         options={"horizon": 3, "input_size": 4, "backtest": 3, "step": 2})
    run_dir = train(config, run_dir=tmp_path / "run", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [w["cutoff_steps_before_end"] for w in metrics["windows"]] == [7, 5, 3]
    assert metrics["test"]["mase"] == pytest.approx(np.mean([w["test"]["mase"] for w in metrics["windows"]]))
    with open(run_dir / "forecasts.csv") as f:
        rows = [row for row in csv.DictReader(f) if row["unique_id"] == "s0"]
    assert len(rows) == 9
    assert sorted({row["cutoff"][:10] for row in rows}) == ["2000-01-23", "2000-01-25", "2000-01-27"]
    for row in rows:  # the value at ds is its position: 22 days after 2000-01-01 is value 22
        assert float(row["y"]) == (pd.Timestamp(row["ds"]) - pd.Timestamp("2000-01-01")).days


def test_an_epoch_is_shorter_where_the_windows_overlap():
    from zoo.tasks.forecasting import WINDOW_BATCHES, batches_per_epoch

    one = panel_dataset("one", _positions_panel([120]), horizon=6, input_size=12).series
    many = panel_dataset("many", _positions_panel([120] * 200), horizon=6, input_size=12).series
    assert batches_per_epoch(one) == 3  # (120 - 12 held out) / (12 + 6) = 6 windows apart: 3 batches
    assert batches_per_epoch(many) == WINDOW_BATCHES


@pytest.mark.slow
def test_a_search_varies_the_context_and_the_head_ranks_by_validation_mase_and_retrains_the_winner(tmp_path):
    from tuning import TuneConfig, tune

    project = tune(TuneConfig(task="forecasting", data=str(_demand(tmp_path / "demand.csv")), max_trials=3,
                              epochs=1, tune_dir=str(tmp_path / "tuning"), options={"horizon": 4}), verbose=0)
    with open(project / "trials.csv") as f:
        trials = list(csv.DictReader(f))
    assert len(trials) == 3 and all(0 < float(t["score"]) < 10 for t in trials)
    assert {int(t["input_size"]) for t in trials} <= {12, 24, 36, 48}  # 1-4 seasons (12 > the horizon)
    assert {t["distribution"] for t in trials} <= {"quantiles", "normal", "student_t"}
    best = min(trials, key=lambda t: float(t["score"]))
    config = json.loads((project / "best_run" / "config.json").read_text())
    assert config["options"] == {"horizon": 4, "input_size": int(best["input_size"]),
                                 "distribution": best["distribution"]}
    metrics = json.loads((project / "best_run" / "metrics.json").read_text())
    assert set(metrics["baselines"]) >= {"AutoETS", "AutoTheta"} and metrics["test"]["mase"] > 0
    assert (project / "best_run" / "forecasts.csv").exists()
