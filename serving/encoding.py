"""JSON in and out of the server, in pieces small enough that the event loop is never kept waiting.

Request handling runs in worker threads, but a thread inside one long C call (parsing a list of
a million numbers, writing a 300 MB answer) holds the GIL for all of it and the event loop, with
/v2/health/*, waits. So arrays are converted and written a block of rows at a time.
"""

import numpy as np
import orjson
from kserve.errors import InvalidInput

# About this many values per C call: a few milliseconds of GIL each.
BLOCK_VALUES = 1 << 16


def loads(body):
    """The body as JSON; malformed, too deep (over 1,024 levels) or out-of-range numbers are InvalidInput."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"Malformed JSON in the request body: {error}") from error


def dumps(value):
    """value as JSON bytes: dicts, lists and numbers as orjson writes them, numpy arrays in blocks of rows."""
    if isinstance(value, dict):
        return b"{" + b",".join(orjson.dumps(str(k)) + b":" + dumps(v) for k, v in value.items()) + b"}"
    if isinstance(value, list) and any(isinstance(v, np.ndarray | dict) for v in value[:1]):
        return b"[" + b",".join(dumps(v) for v in value) + b"]"
    if not isinstance(value, np.ndarray):
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    if value.ndim == 0 or not len(value):
        return orjson.dumps(value.tolist())
    rows = _rows_per_block(value)
    if len(value) <= rows:
        return _array_bytes(value)
    return b"[" + b",".join(_array_bytes(value[i:i + rows])[1:-1] for i in range(0, len(value), rows)) + b"]"


def _array_bytes(array):
    if array.dtype.kind in "OUS":  # strings: orjson writes numeric arrays only
        return orjson.dumps(array.tolist())
    return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY)


def _rows_per_block(array):
    return max(1, BLOCK_VALUES * len(array) // max(1, array.size))


def as_array(name, value):
    """A JSON value (nested lists) as a numpy array, a block of rows at a time.

    JSON booleans are refused: numpy would silently read `true` as the number 1.
    """
    if isinstance(value, np.ndarray):
        return value
    try:
        if not isinstance(value, list) or not value:
            array = np.asarray(value)
        else:
            rows = _rows_per_block(np.asarray(value[:1]))
            blocks = [np.asarray(value[i:i + rows]) for i in range(0, len(value), rows)]
            if len({block.shape[1:] for block in blocks}) > 1:
                raise ValueError("rows differ")
            array = np.concatenate(blocks)
    except ValueError as error:  # numpy refuses rows of different lengths
        raise InvalidInput(f"Input {name!r} is ragged: its rows differ in length. Pad every row to the "
                           "longest, with metadata.json's pad_value after the real steps.") from error
    if array.dtype.kind in "iuf" and _holds_booleans(value):
        raise InvalidInput(f"Input {name!r} holds true or false where numbers belong.")
    return array


def _holds_booleans(value):
    """Whether nested lists hold a bool anywhere (bool is an int to numpy, not to a JSON schema)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            kinds = set(map(type, item))
            if bool in kinds:
                return True
            if list in kinds:
                stack.extend(v for v in item if isinstance(v, list))
        elif isinstance(item, bool):
            return True
    return False
