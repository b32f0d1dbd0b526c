"""Series in the forecasting field's long format: one row per (series, timestamp), as statsforecast and
neuralforecast read them: `unique_id, ds, y` in a `.csv` or `.parquet` file (other column names
with OPTIONS="id_col=... time_col=... target_col=...").

A table without the id column is one series (the file's name); one without the time column is read
as consecutive steps of `freq` (default: yearly). The frequency is inferred from the timestamps
unless given. A timestamp the series skips, and an empty `y`, are missing values (NaN), which the
forecaster masks. Rows are named by their line in the file (for .parquet, their row) when they
break a rule: a `y` that is not a number, a timestamp that does not parse or is off the frequency,
and a (series, timestamp) pair given twice.
"""

import numpy as np
import pandas as pd

from zoo.errors import DataFileError
from zoo.panel import Panel, offset

EXTENSIONS = (".csv", ".parquet")


def _table(path):
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


def _numbers(column, path):
    text = column.astype(str).str.strip()
    empty = column.isna() | text.isin(["", "nan", "NaN", "NA", "null"])
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = values.isna() & ~empty
    if bad.any():
        line = bad.idxmax()
        raise DataFileError(path, f"y is {column[line]!r}, not a number (leave it empty where the value "
                            "is missing).", line)
    return values.astype("float64")


def _times(column, path):
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


def read_long(path, id_col="unique_id", time_col="ds", target_col="y", freq=None):
    """The Panel in a long-format file (see the module's docstring)."""
    frame = _table(path)
    y = _numbers(_column(frame, target_col, "target_col", path), path)
    ids = frame[id_col].astype(str) if id_col in frame.columns else pd.Series(path.stem, frame.index)
    if time_col in frame.columns:
        ds = _times(frame[time_col], path)
    else:
        freq = freq or "YS"
        step = ids.groupby(ids).cumcount().to_numpy()
        ds = pd.Series(pd.date_range("2000-01-01", periods=len(frame), freq=freq)[step], frame.index)
    table = pd.DataFrame({"unique_id": ids, "ds": ds, "y": y})
    twice = table.duplicated(["unique_id", "ds"])
    if twice.any():
        line = twice.idxmax()
        raise DataFileError(path, f"series {table.at[line, 'unique_id']!r} has {table.at[line, 'ds']} twice.",
                            line)
    freq = offset(freq).freqstr if freq else _infer_freq(table.sort_values("ds", kind="stable"), path)
    step = offset(freq)
    series, first = {}, []
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
    return Panel.from_series(series, freq, first)
