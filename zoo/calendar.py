"""Calendar features of a frequency: where each timestamp falls in the cycles its steps repeat.

A monthly series repeats over the months of a year, an hourly one over the hours of a day and the
days of a week. Each cycle is given by its length in steps and, for a timestamp, its phase: the
steps since the cycle began (March: 2 months into the year). The forecaster reads the phase of a
context's last step (its `calendar` input, one number per cycle) and derives the sine and cosine of
every step's phase from it inside the model (zoo.layers.CalendarFeatures): a client sends one number
per cycle, not a column per step. Yearly series have no cycle. TensorFlow-free: a client computes the
phases with this module.
"""

import numpy as np

from zoo.panel import offset

MINUTES_PER_DAY, MINUTES_PER_WEEK = 1440, 10080


def cycles(freq):
    """((name, steps in one cycle), ...) of a frequency alias: months of a year, hours of a day, ..."""
    step = offset(freq)
    kind, n = type(step).__name__, step.n
    if kind in ("MonthBegin", "MonthEnd"):
        return (("month_of_year", 12 / n),)
    if kind in ("QuarterBegin", "QuarterEnd"):
        return (("quarter_of_year", 4 / n),)
    if kind == "Week":
        return (("week_of_year", 365.25 / 7 / n),)
    if kind == "Day":
        return (("day_of_week", 7 / n), ("day_of_year", 365.25 / n))
    if kind == "BusinessDay":
        return (("day_of_week", 5 / n),)
    size = _minutes(step)
    if size:
        return (("time_of_day", MINUTES_PER_DAY / size), ("day_of_week", MINUTES_PER_WEEK / size))
    return ()


def phases(dates, freq):
    """[len(dates), cycles] float32: the steps from the start of each cycle to each timestamp."""
    import pandas as pd

    dates = pd.DatetimeIndex(dates)
    step = offset(freq)
    n, size = step.n, _minutes(step)  # size: None for days and longer
    minute_of_day = dates.hour * 60 + dates.minute + dates.second / 60
    measures = {
        "month_of_year": lambda: (dates.month - 1) / n,
        "quarter_of_year": lambda: (dates.quarter - 1) / n,
        "week_of_year": lambda: (dates.dayofyear - 1) / 7 / n,
        "day_of_week": lambda: ((dates.dayofweek * MINUTES_PER_DAY + minute_of_day) / size if size
                                else np.minimum(dates.dayofweek, 4 if type(step).__name__ == "BusinessDay"
                                                else 6) / n),
        "day_of_year": lambda: (dates.dayofyear - 1) / n,
        "time_of_day": lambda: minute_of_day / size,
    }
    names = [name for name, _ in cycles(freq)]
    columns = [np.asarray(measures[name](), "float32") for name in names]
    return np.stack(columns, -1) if columns else np.zeros((len(dates), 0), "float32")


def _minutes(step):
    """Minutes in one step of an hourly or finer frequency; None for days and longer."""
    per = {"Hour": 60, "Minute": 1, "Second": 1 / 60}.get(type(step).__name__)
    return per * step.n if per else None
