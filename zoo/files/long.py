"""Series in the forecasting field's long format: one row per (series, timestamp), as statsforecast and
neuralforecast read them: `unique_id, ds, y` in a `.csv` or `.parquet` file (other column names
with OPTIONS="id_col=... time_col=... target_col=...").

A table without the id column is one series (the file's name); one without the time column is read
as consecutive steps of `freq` (default: yearly). The frequency is inferred from the timestamps
unless given. A timestamp the series skips, and an empty `y`, are missing values (NaN), which the
forecaster masks. Rows are named by their line in the file (for .parquet, their row) when they
break a rule: a `y` that is not a number, a timestamp that does not parse or is off the frequency,
and a (series, timestamp) pair given twice.

Covariates are more numeric columns, named by role (`OPTIONS="futr=price,promo hist=visits stat=size"`,
as neuralforecast's futr_exog_list, hist_exog_list and stat_exog_list): future-known ones (`futr`:
prices, promotions, holidays; known for the steps being forecast, so every row must hold them),
past-only ones (`hist`: read in the context only; empty cells are missing) and static ones (`stat`:
one number per series, the same on each of its rows).
"""

import numpy as np

from zoo.errors import DataFileError
from zoo.panel import Panel, offset

EXTENSIONS = (".csv", ".parquet")


def _table(path):
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        frame, first_line = pd.read_parquet(path), 1  # rows counted from 1
    else:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataFileError(path, f"is not a readable CSV table ({str(error).strip()}).") from None
        first_line = 2  # after the header
    frame.index = np.arange(len(frame)) + first_line
    return frame


def _column(frame, name, role, path):
    if name not in frame.columns:
        raise DataFileError(path, f"has no column {name!r} for the {role}; its columns are "
                            f"{', '.join(map(repr, frame.columns))} (choose with "
                            f"OPTIONS=\"{role}=<column>\").")
    return frame[name]


def _numbers(column, path, role="y", missing="leave it empty where the value is missing"):
    """The column as float64, NaN where empty; `role` names it and `missing` says what to do with an
    empty cell, in the message on a cell that is not a number."""
    import pandas as pd

    text = column.astype(str).str.strip()
    empty = column.isna() | text.isin(["", "nan", "NaN", "NA", "null"])
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = values.isna() & ~empty
    if bad.any():
        line = bad.idxmax()
        raise DataFileError(path, f"{role} is {column[line]!r}, not a number ({missing}).", line)
    return values.astype("float64")


def names(columns):
    """A list of column names from an option: "a,b", ("a", "b") or None."""
    if not columns:
        return ()
    return tuple(c.strip() for c in columns.split(",")) if isinstance(columns, str) else tuple(columns)


def _covariates(frame, path, futr, hist, stat):
    """{name: float64 column} of every covariate; ZooError naming the line of a missing futr or stat
    value, or of a stat value that differs within its series."""
    out = {}
    for role, columns in (("hist", hist), ("futr", futr), ("stat", stat)):
        for name in columns:
            values = _numbers(_column(frame, name, role, path), path, f"{role} column {name!r}",
                              "leave it empty where the value is missing" if role == "hist" else
                              "every row needs one")
            if role != "hist" and values.isna().any():
                line = values.isna().idxmax()
                raise DataFileError(path, f"{role} column {name!r} is empty: a "
                                    + ("future-known covariate is read over the steps being forecast, so "
                                       "every row needs it" if role == "futr" else
                                       "static covariate needs its one value on every row of its series"),
                                    line)
            out[name] = values
    return out


def _times(column, path):
    import pandas as pd

    times = pd.to_datetime(column, errors="coerce", format="mixed") if column.dtype == object \
        else pd.to_datetime(column, errors="coerce")
    bad = times.isna()
    if bad.any():
        line = bad.idxmax()
        raise DataFileError(path, f"ds is {column[line]!r}, which is not a date or time.", line)
    return times


# Tried in this order where no series has three evenly spaced timestamps to infer from.
_CANDIDATES = ("YS", "YE", "QS", "QE", "MS", "ME", "W", "D", "h", "30min", "15min", "min")


def _infer_freq(frame, path):
    """The frequency most series' timestamps follow (pandas' inference), else the first alias whose
    step leads from some timestamp to the next one of its series."""
    import pandas as pd

    found = [pd.infer_freq(dates) for _, dates in frame.groupby("unique_id")["ds"]
             if len(dates) >= 3 and dates.is_monotonic_increasing]
    found = [freq for freq in found if freq is not None]
    if found:
        return max(set(found), key=found.count)
    for _, dates in frame.sort_values("ds").groupby("unique_id")["ds"]:
        for first, second in zip(dates, dates[1:]):
            for alias in _CANDIDATES:
                step = pd.date_range(first, periods=2, freq=alias)
                if step[0] == first and step[1] == second:
                    return alias
    raise DataFileError(path, "the frequency cannot be inferred from the timestamps; give it: "
                        "OPTIONS=\"freq=MS\" (a pandas alias).")


def read_long(path, id_col="unique_id", time_col="ds", target_col="y", freq=None, futr=(), hist=(), stat=()):
    """The Panel in a long-format file (see the module's docstring)."""
    import pandas as pd

    futr, hist, stat = names(futr), names(hist), names(stat)
    frame = _table(path)
    y = _numbers(_column(frame, target_col, "target_col", path), path)
    covariates = _covariates(frame, path, futr, hist, stat)
    ids = frame[id_col].astype(str) if id_col in frame.columns else pd.Series(path.stem, frame.index)
    if time_col in frame.columns:
        ds = _times(frame[time_col], path)
    else:
        freq = freq or "YS"
        step = ids.groupby(ids).cumcount().to_numpy()
        ds = pd.Series(pd.date_range("2000-01-01", periods=len(frame), freq=freq)[step], frame.index)
    table = pd.DataFrame({"unique_id": ids, "ds": ds, "y": y, **{f"x:{k}": v for k, v in covariates.items()}})
    twice = table.duplicated(["unique_id", "ds"])
    if twice.any():
        line = twice.idxmax()
        raise DataFileError(path, f"series {table.at[line, 'unique_id']!r} has {table.at[line, 'ds']} twice.",
                            line)
    freq = offset(freq).freqstr if freq else _infer_freq(table.sort_values("ds", kind="stable"), path)
    step = offset(freq)
    series, first, exog, static = {}, [], {}, {}
    for name, rows in table.groupby("unique_id", sort=False):
        rows = rows.sort_values("ds", kind="stable")
        grid = pd.date_range(rows["ds"].iloc[0], rows["ds"].iloc[-1], freq=step)
        position = grid.get_indexer(rows["ds"])
        if (position < 0).any():
            line = rows.index[np.argmax(position < 0)]
            raise DataFileError(path, f"series {name!r}: {rows.at[line, 'ds']} is off its frequency {freq} "
                                f"(from {grid[0]}).", line)
        values = np.full(len(grid), np.nan, dtype="float32")
        values[position] = rows["y"].to_numpy()
        series[name], first = values, [*first, grid[0]]
        exog[name] = np.full((len(grid), len(hist) + len(futr)), np.nan, dtype="float32")
        exog[name][position] = rows[[f"x:{k}" for k in (*hist, *futr)]].to_numpy()
        static[name] = _static(rows, stat, name, path)
    return Panel.from_series(series, freq, first, exog, hist, futr, static, stat)


def _static(rows, stat, series, path):
    """The series' one value of each static covariate; DataFileError at the first row that differs."""
    values = rows[[f"x:{k}" for k in stat]].to_numpy()
    differs = (values != values[:1]).any(axis=1)
    if differs.any():
        line = rows.index[np.argmax(differs)]
        raise DataFileError(path, f"series {series!r}: a static covariate ({', '.join(stat)}) changes here, "
                            f"from {values[0].tolist()} to {values[np.argmax(differs)].tolist()}; it takes "
                            "one value per series.", line)
    return values[0]
