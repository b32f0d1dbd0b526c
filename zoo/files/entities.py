"""One labelled sequence per entity, in the long table business data comes as: a `.csv` or `.parquet`
file with one row per entity and time step (`OPTIONS="id=company time=year label=bankrupt"`), every
other column a numeric feature of that step. A company's yearly accounts with whether it went
bankrupt, a customer's months with whether they churned, a machine's readings with its fault.

Rows are sorted by `time` within each entity (file order where no time column is named), entities may
have different lengths, and the label is one per entity: a row whose label differs from its entity's
first is named by file and line, as are an empty label, a feature cell that is empty or not a number,
and a time given twice for one entity.
"""

import numpy as np

from zoo.errors import DataFileError
from zoo.files.long import _column, _numbers, _table

EXTENSIONS = (".csv", ".parquet")


def read_entities(path, id_col, time_col=None, label_col="label"):
    """([one [steps, features] float32 array per entity, in order of first appearance], [its label],
    the feature columns' names) of a long table (see the module's docstring)."""
    import pandas as pd

    frame = _table(path)
    ids = _column(frame, id_col, "id", path).astype(str)
    labels = _column(frame, label_col, "label", path).astype(str).str.strip()
    empty = labels.eq("") | frame[label_col].isna()
    if empty.any():
        raise DataFileError(path, f"the label column {label_col!r} is empty (every row needs its entity's "
                            "label).", empty.idxmax())
    first = labels.groupby(ids).transform("first")
    differs = labels.ne(first)
    if differs.any():
        line = differs.idxmax()
        raise DataFileError(path, f"entity {ids[line]!r} has label {labels[line]!r} here and {first[line]!r} "
                            "on its first row: a sequence has one label.", line)
    order = pd.Series(np.arange(len(frame)), frame.index)
    if time_col is not None:
        times = _column(frame, time_col, "time", path)
        parsed = pd.to_numeric(times, errors="coerce")
        if parsed.isna().any():  # dates, or text that sorts as it reads
            parsed = pd.to_datetime(times, errors="coerce", format="mixed")
        if parsed.isna().any():
            line = parsed.isna().idxmax()
            raise DataFileError(path, f"time is {times[line]!r}, neither a number nor a date.", line)
        twice = pd.DataFrame({"id": ids, "time": parsed}).duplicated()
        if twice.any():
            line = twice.idxmax()
            raise DataFileError(path, f"entity {ids[line]!r} has time {times[line]!r} twice.", line)
        order = parsed
    features = [c for c in frame.columns if c not in {id_col, label_col, time_col}]
    if not features:
        named = ", ".join(repr(c) for c in (id_col, label_col, time_col) if c)
        raise DataFileError(path, f"has no feature columns beside {named}: every other column is a feature.")
    values = pd.DataFrame({name: _numbers(frame[name], path, f"feature {name!r}", "every step needs every "
                                          "feature") for name in features})
    if values.isna().any().any():
        line = values.isna().any(axis=1).idxmax()
        column = values.columns[values.loc[line].isna().argmax()]
        raise DataFileError(path, f"feature {column!r} is empty: every step needs every feature (fill it, or "
                            "leave the column out of the file).", line)
    table = pd.DataFrame({"id": ids.to_numpy(), "order": order.to_numpy(), "row": np.arange(len(frame))})
    groups = table.sort_values(["order", "row"], kind="stable").groupby("id", sort=False)["row"]
    rows_of = {entity: rows.to_numpy() for entity, rows in groups}
    matrix, first = values.to_numpy("float32"), first.to_numpy()
    entities = pd.unique(ids.to_numpy())  # in order of first appearance in the file
    return ([matrix[rows_of[e]] for e in entities], np.array([first[rows_of[e][0]] for e in entities]),
            features)
