"""A text file as NumPy arrays of line and field boundaries: parsing without a Python loop per line.

Used by the line formats (CoNLL-U, CoNLL-2003, source<TAB>target pairs). Every check reports the
1-based line of the first offending line.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from zoo.errors import DataFileError


def read_bytes(path):
    """The file's bytes, checked to be non-empty UTF-8; DataFileError names the line that is not."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataFileError(path, f"cannot be read: {error.strerror or error}") from error
    if not raw or raw.isspace():
        raise DataFileError(path, "the file is empty.")
    whole = pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(raw)], np.int64)),
                                             pa.py_buffer(raw))
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            raise DataFileError(path, f"invalid UTF-8 (byte {error.start}); save the file as UTF-8.",
                                line) from None
    return raw


BLOCK_BYTES = 1 << 22  # lines are parsed a few MB at a time, so parsing needs little memory beside the file


@dataclass(frozen=True)
class Lines:
    """Line i is data[starts[i]:ends[i]] (no newline, no carriage return); its number is
    first_line + i + 1."""

    path: Path
    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    first_line: int = 0

    @property
    def blank(self):
        return self.starts == self.ends

    def fail(self, line_index, message):
        raise DataFileError(self.path, message, self.first_line + int(line_index) + 1)

    def blocks(self, size=None, at_blank=False):
        """The lines in consecutive pieces of about `size` bytes, each cut after a blank line if
        at_blank (so that no sentence is split); each piece is a Lines over a view of the bytes."""
        size, count = size or BLOCK_BYTES, len(self.starts)
        candidates = np.flatnonzero(self.blank) + 1 if at_blank else np.arange(1, count + 1)
        candidates = candidates[candidates < count]
        targets = np.arange(size, int(self.ends[-1]) if count else 0, size)
        picked = np.zeros(0, int)
        if len(candidates):
            picked = candidates[np.minimum(np.searchsorted(self.starts[candidates], targets),
                                           len(candidates) - 1)]
        cuts = np.unique(np.concatenate([[0], picked, [count]]))
        for first, last in zip(cuts[:-1], cuts[1:]):
            low, high = int(self.starts[first]), int(self.ends[last - 1])
            yield Lines(self.path, self.data[low:high], self.starts[first:last] - low,
                        self.ends[first:last] - low, self.first_line + int(first))

    def fields(self, rows, separator_bytes):
        """Fields of the lines `rows` (indices): (count per line, field(k) -> (starts, ends)).

        field(k) with k < 0 counts from the end of each line.
        """
        table = np.zeros(256, bool)
        table[np.frombuffer(separator_bytes, np.uint8)] = True
        is_separator = table[self.data]
        separators = np.append(np.flatnonzero(is_separator), len(self.data))  # the last field indexes safely
        starts, ends = self.starts[rows], self.ends[rows]
        first = np.searchsorted(separators, starts)
        count = np.searchsorted(separators, ends) - first + 1

        def field(k):
            k = np.where(k < 0, count + k, k) if np.ndim(k) or k < 0 else np.full(len(rows), k)
            left = np.where(k == 0, starts, separators[np.maximum(first + k - 1, 0)] + 1)
            right = np.where(k == count - 1, ends, separators[first + k])
            return left, right

        return count, field

    def strings(self, starts, ends):
        """The spans data[starts[i]:ends[i]] (in order, not overlapping) as one Arrow string array.

        The bytes are picked by a mask, a byte per byte of the file, not an index of eight.
        """
        lengths = (ends - starts).astype(np.int64)
        edges = np.zeros(len(self.data) + 1, np.int8)
        edges[starts] += 1  # spans do not overlap, so no position repeats within starts or ends
        edges[ends] -= 1
        inside = np.cumsum(edges[:-1], dtype=np.int8).view(bool)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets),
                                                pa.py_buffer(self.data[inside].tobytes()))


def read_lines(path):
    raw = read_bytes(path)
    data = np.frombuffer(raw, np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(data)]])
    if starts[-1] == len(data):  # the file ends with a newline: no line after it
        starts, ends = starts[:-1], ends[:-1]
    carriage = (ends > starts) & (data[np.maximum(ends - 1, 0)] == 13)
    return Lines(Path(path), data, starts, ends - carriage)


def read_captions(captions, path, count, what):
    """The lines of the file `captions`: one caption for each of the `count` examples of `path` (each a
    `what`), in order."""
    lines = read_lines(captions)
    texts = lines.strings(lines.starts, lines.ends)
    if len(texts) != count:
        raise DataFileError(captions, f"has {len(texts)} lines but {path} has {count} {what}s: one caption "
                            f"per {what}, in order.")
    return texts
