"""Tables from `.csv`, `.tsv` (a header row, then one row per example) and `.jsonl` (one object per line).

Read by Arrow's C++ readers. When a file does not parse, it is read again line by line, only then,
to name the first bad line.
"""

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from zoo.errors import DataFileError
from zoo.files.lines import read_bytes

DELIMITERS = {".csv": ",", ".tsv": "\t"}


class Table:
    """A parsed table and where its rows came from: row i is on line `line(i)` of `path`."""

    def __init__(self, path, table, first_line, blank_lines):
        self.path, self.table = path, table
        self._first_line, self._blank = first_line, blank_lines

    def __len__(self):
        return self.table.num_rows

    def line(self, row):
        """The 1-based line of row `row`, counting the blank lines that the reader skipped."""
        line = self._first_line + int(row)
        for blank in self._blank:
            if blank <= line:
                line += 1
        return line

    def column(self, name, role):
        if name not in self.table.column_names:
            raise DataFileError(self.path, f"has no column {name!r} for the {role}; its columns are "
                                f"{', '.join(map(repr, self.table.column_names))} (choose with "
                                f"OPTIONS=\"{role}=<column>\").")
        column = self.table.column(name)
        missing = np.flatnonzero(np.asarray(column.is_null()))
        if len(missing):
            raise DataFileError(self.path, f"the {role} column {name!r} is empty.", self.line(missing[0]))
        return column.combine_chunks()

    def texts(self, name, role):
        column = self.column(name, role)
        return column if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) \
            else pc.cast(column, pa.large_string())

    def numbers(self, names, role):
        """The columns `names` as float32 [rows, columns]; a value that is not a number is an error."""
        out = np.empty((len(self), len(names)), dtype="float32")
        for j, name in enumerate(names):
            column = self.column(name, role)
            if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                values = np.asarray(pc.cast(column, pa.large_string()).to_pylist(), dtype=object)
                for row, value in enumerate(values):
                    try:
                        float(value)
                    except ValueError:
                        raise DataFileError(self.path, f"column {name!r} must hold numbers ({role}), "
                                            f"got {value!r}.", self.line(row)) from None
                column = pc.cast(column, pa.float64())
            out[:, j] = np.asarray(column, dtype="float64")
        bad = np.argwhere(~np.isfinite(out))
        if len(bad):
            row, j = bad[0]
            raise DataFileError(self.path, f"column {names[j]!r} holds {out[row, j]} ({role} must be "
                                "finite numbers).", self.line(row))
        return out


def read_table(path):
    """A `.csv`, `.tsv` or `.jsonl` file as a Table."""
    raw = read_bytes(path)
    suffix = path.suffix.lower()
    blank = [i + 1 for i, line in enumerate(raw.split(b"\n")) if not line.strip()] \
        if b"\n\n" in raw or b"\n\r\n" in raw else []
    if suffix == ".jsonl":
        return Table(path, _jsonl(path, raw), 1, blank)
    return Table(path, _delimited(path, raw, DELIMITERS[suffix]), 2, blank)


def _delimited(path, raw, delimiter, use_threads=True):
    bad = []

    def invalid_row(row):
        bad.append(row)
        return "skip"

    table = pa_csv.read_csv(
        pa.BufferReader(raw),
        # Threads read faster; a bad row then knows no line, so it is read again in one thread.
        read_options=pa_csv.ReadOptions(use_threads=use_threads),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid_row,
                                          newlines_in_values=False),
        convert_options=pa_csv.ConvertOptions(strings_can_be_null=False),
    )
    if bad:
        if bad[0].number is None and use_threads:
            return _delimited(path, raw, delimiter, use_threads=False)
        row = bad[0]
        raise DataFileError(path, f"expected {row.expected_columns} columns as in the header, found "
                            f"{row.actual_columns}" + (" (is the delimiter a tab? use .tsv)"
                                                       if delimiter == "," and "\t" in row.text else "")
                            + ".", row.number)
    if table.num_rows == 0:
        raise DataFileError(path, "has a header but no rows.")
    return table


def _jsonl(path, raw):
    try:
        table = pa_json.read_json(pa.BufferReader(raw))
    except pa.ArrowInvalid as error:
        _first_bad_json_line(path, raw)
        raise DataFileError(path, f"is not JSON Lines: {error}") from error
    if table.num_columns == 0:
        _first_bad_json_line(path, raw)
    return table


def _first_bad_json_line(path, raw):
    for number, line in enumerate(io.StringIO(raw.decode("utf-8")), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFileError(path, f"not a JSON object: {error.msg} (column {error.colno}).", number) \
                from None
        if not isinstance(value, dict):
            raise DataFileError(path, f"expected one JSON object per line, got {type(value).__name__}.",
                                number)
