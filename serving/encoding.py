"""JSON in and out of the server, in pieces small enough that the event loop is never kept waiting.

Request handling runs in worker threads, but a thread inside one long C call (parsing a list of
a million numbers, writing a 300 MB answer) holds the GIL for all of it and the event loop, with
/v2/health/*, waits. So arrays are converted and written a block of rows at a time.
"""

import time

import numpy as np
import orjson
from kserve.errors import InvalidInput
from starlette.responses import StreamingResponse

# About this many values per C call: a few milliseconds of GIL each.
BLOCK_VALUES = 1 << 16
# What a streamed answer writes at a time.
CHUNK_BYTES = 1 << 20


def loads(body):
    """The body as JSON; malformed, too deep (over 1,024 levels) or out-of-range numbers are InvalidInput."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"Malformed JSON in the request body: {error}") from error


def loads_object(body):
    """The body as a JSON object, whatever its content type said (as TF Serving reads it)."""
    parsed = loads(body)
    if not isinstance(parsed, dict):
        raise InvalidInput(f"The request body must be a JSON object, got {type(parsed).__name__}.")
    return parsed


def json_chunks(value, chunk_bytes=CHUNK_BYTES):
    """value as JSON, in chunks of about chunk_bytes: what a streamed answer sends one at a time.

    dicts, lists and numbers as orjson writes them, numpy arrays a block of rows at a time; no
    copy of the whole answer is ever made, here or by the server writing it.
    """
    chunks, pending, size = [], [], 0
    for piece in _pieces(value):
        pending.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            chunks.append(b"".join(pending))
            pending, size = [], 0
    return chunks + [b"".join(pending)] if pending else chunks


def json_response(value):
    """A 200 answer of value as JSON, written to the client a chunk at a time, with its length."""
    return streamed(json_chunks(value))


def streamed(chunks, media_type="application/json", headers=None):
    """A 200 answer of these byte chunks, written one at a time, with their total length."""

    async def each():
        for chunk in chunks:
            yield chunk

    headers = {**(headers or {}), "content-length": str(sum(map(len, chunks)))}
    return StreamingResponse(each(), media_type=media_type, headers=headers)


def _pieces(value):
    if isinstance(value, dict):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield (b"," if i else b"") + orjson.dumps(str(key)) + b":"
            yield from _pieces(item)
        yield b"}"
    elif isinstance(value, list) and any(isinstance(v, np.ndarray | dict) for v in value[:1]):
        yield b"["
        for i, item in enumerate(value):
            if i:
                yield b","
            yield from _pieces(item)
        yield b"]"
    elif not isinstance(value, np.ndarray):
        yield orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    elif value.ndim == 0 or len(value) <= _rows_per_block(value):
        yield _array_bytes(value)
    else:
        rows = _rows_per_block(value)
        yield b"["
        for i in range(0, len(value), rows):
            if i:
                time.sleep(0)  # hands the GIL to a waiting thread between blocks
            yield (b"," if i else b"") + _array_bytes(value[i:i + rows])[1:-1]
        yield b"]"


def _array_bytes(array):
    # orjson writes numeric arrays only; strings, scalars and empty arrays go as lists
    if array.dtype.kind in "OUS" or array.ndim == 0 or not len(array):
        return orjson.dumps(array.tolist())
    return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY)


def _rows_per_block(array):
    return max(1, BLOCK_VALUES * len(array) // max(1, array.size)) if array.ndim else 1


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
            blocks = []
            for i in range(0, len(value), rows):
                if i:
                    time.sleep(0)  # hands the GIL to a waiting thread between blocks, not after the last
                blocks.append(np.asarray(value[i:i + rows]))
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
