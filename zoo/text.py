"""Text to token ids and back, vectorised, in the manner of Keras `TextVectorization`.

    words:      lower-case, strip punctuation, split on ASCII whitespace
    characters: every Unicode code point is a token; nothing is changed
    tokens:     the tokens are given (a CoNLL file's word forms)

A batch of sequences is held dictionary-encoded (`Tokens`): lengths per row, and for every token
an index into the batch's distinct token strings. Splitting runs in Arrow's C++ kernels or NumPy,
never a Python loop per token, so a million rows load in seconds; the model server uses the same
code for the strings it is sent, so serving tokenises exactly as training did. The exported
SavedModel repeats the same steps in TensorFlow ops (export.text), checked equal on every export.
No TensorFlow here: the ONNX server imports this module.
"""

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zoo.data import Vocabulary

SPLITS = ("words", "characters", "tokens")
# A spelled token (a tagger's character encoder reads it) carries this many character ids after its
# own id: all of a word's characters up to that many, else its first and last SPELLING // 2, where a
# Turkish or English word keeps its stem's start and its suffixes. 0 fills the rest.
SPELLING = 20
PAD_BLOCK = 1 << 16  # rows padded at a time
# What Keras TextVectorization's default `lower_and_strip_punctuation` strips (ASCII punctuation),
# as a regex for export.text's TensorFlow ops and as a byte table for zoo.text's NumPy.
PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
STRIP_PUNCTUATION = "[" + re.escape(PUNCTUATION) + "]"


@dataclass(frozen=True)
class Tokens:
    """Token sequences: row i holds types[codes[starts[i] : starts[i] + lengths[i]]]."""

    lengths: np.ndarray
    codes: np.ndarray
    types: list

    def __len__(self):
        return len(self.lengths)

    @property
    def starts(self):
        return np.cumsum(self.lengths) - self.lengths

    def take(self, rows):
        """The rows given (indices or a boolean mask), in that order."""
        rows = np.arange(len(self))[rows] if np.asarray(rows).dtype == bool else np.asarray(rows, int)
        lengths = self.lengths[rows]
        index = _ragged_positions(self.starts[rows], lengths)
        return Tokens(lengths, self.codes[index], self.types)

    def counts(self):
        """How often each distinct token occurs: {token: count}."""
        counts = np.bincount(self.codes, minlength=len(self.types))
        return {token: int(n) for token, n in zip(self.types, counts) if n}

    def padded(self, vocabulary, max_len=None, shift=0, width=None):
        """Ids right-padded with 0 into [rows, width]: (array, how many rows were cut to max_len).

        shift leaves that many leading columns free (a decoder input starts with <bos>).
        """
        lookup = np.array([vocabulary.id(token) for token in self.types] or [0], dtype="int32")
        return self._filled(lookup, max_len, shift, width)

    def spelled(self, vocabulary, characters, max_len=None):
        """[rows, width, 1 + SPELLING]: each token's id, then the ids of its characters (`spelling`),
        right-padded with 0; and how many rows were cut to max_len."""
        lookup = np.array([[vocabulary.id(token), *spelling(token, characters)] for token in self.types]
                          or [[0] * (1 + SPELLING)], dtype="int32")
        return self._filled(lookup, max_len)

    def character_counts(self):
        """How often each character occurs in the tokens: {character: count}."""
        counts = {}
        for token, n in self.counts().items():
            for character in token:
                counts[character] = counts.get(character, 0) + n
        return counts

    def _filled(self, lookup, max_len=None, shift=0, width=None):
        """lookup[code] of each token, right-padded with 0: filled a block of rows at a time, so the
        index arrays stay small beside the result."""
        length = int(self.lengths.max(initial=0))
        if max_len is not None:
            length = min(length, max_len)
        width = max(length + shift, 1) if width is None else width
        out = np.zeros((len(self), width, *lookup.shape[1:]), dtype="int32")
        starts = self.starts
        for first in range(0, len(self), PAD_BLOCK):
            lengths = self.lengths[first : first + PAD_BLOCK]
            begin, count = int(starts[first]), int(lengths.sum())
            rows = np.repeat(np.arange(len(lengths)), lengths)
            positions = np.arange(count) - np.repeat(starts[first : first + PAD_BLOCK] - begin, lengths)
            keep = positions < length
            out[first + rows[keep], positions[keep] + shift] = lookup[self.codes[begin : begin + count][keep]]
        return out, int(np.sum(self.lengths > length))

    def lists(self):
        """The rows as lists of token strings (for a handful of examples, not for a data set)."""
        types = np.asarray(self.types, dtype=object)
        return [types[self.codes[s : s + n]].tolist() for s, n in zip(self.starts, self.lengths)]


def spelling(token, characters):
    """The SPELLING ids (in the `characters` vocabulary) of the characters a spelled token carries, 0 after
    them."""
    if len(token) > SPELLING:
        token = token[: SPELLING // 2] + token[len(token) - SPELLING // 2 :]
    return [characters.id(character) for character in token] + [0] * (SPELLING - len(token))


def encode(strings, contract):
    """What a client or a data file gives -> the ids the model takes, as the run's contract says (token
    ids, spelled where the contract has a character vocabulary)."""
    tokens = tokenize(strings, contract["text"])
    vocabulary = Vocabulary(tuple(contract["input_vocabulary"]))
    if contract.get("character_vocabulary"):
        return tokens.spelled(vocabulary, Vocabulary(tuple(contract["character_vocabulary"])))[0]
    return tokens.padded(vocabulary)[0]


def word_ids(ids):
    """The token ids of a model input: a spelled input's first column."""
    ids = np.asarray(ids)
    return ids[..., 0] if ids.ndim == 3 else ids


def teacher_forcing(tokens, vocabulary):
    """[<bos>, ids...] as decoder input and [ids..., <eos>] as target, right-padded with 0."""
    decoder_input, _ = tokens.padded(vocabulary, shift=1)
    target = np.zeros_like(decoder_input)
    target[:, :-1] = decoder_input[:, 1:]  # the same ids one step earlier
    target[np.arange(len(tokens)), tokens.lengths] = vocabulary.id("<eos>")
    decoder_input[:, 0] = vocabulary.id("<bos>")
    return decoder_input, target


def _ragged_positions(starts, lengths):
    """Flat indices of the runs [start, start + length) one after another."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total) + offsets


def _string_array(strings):
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if not isinstance(strings, pa.Array):
        strings = pa.array(list(strings), pa.large_string())
    return strings.cast(pa.large_string())


def split(strings, how, lower_and_strip=True):
    """`Tokens` of a batch of strings, split into "words" or "characters"."""
    strings = _string_array(strings)
    if how == "words":
        if lower_and_strip:
            strings = _lower_and_strip(strings)
        # Trimmed first, so that a split leaves no "" but the one of an empty row.
        strings = pc.ascii_trim_whitespace(strings)
        lists = pc.ascii_split_whitespace(strings)
        flat, lengths = lists.flatten(), np.asarray(pc.list_value_length(lists), dtype=np.int64)
        empty = np.asarray(pc.equal(pc.binary_length(strings), 0)).astype(bool)
        if empty.any():
            keep = np.ones(len(flat), bool)
            keep[(np.cumsum(lengths) - lengths)[empty]] = False
            flat, lengths = flat.filter(pa.array(keep)), np.where(empty, 0, lengths)
        return encoded(flat, lengths)
    if how == "characters":
        return _characters(strings)
    raise ValueError(f"Unknown split {how!r}; choose one of {', '.join(SPLITS[:2])}.")


def token_lists(rows):
    """`Tokens` of sequences that are already lists of token strings."""
    lists = pa.array(rows, pa.list_(pa.large_string()))
    return encoded(lists.flatten(), np.asarray(pc.list_value_length(lists).fill_null(0), dtype=np.int64))


def encoded(flat, lengths):
    encoded = pc.dictionary_encode(flat).combine_chunks() if isinstance(flat, pa.ChunkedArray) \
        else pc.dictionary_encode(flat)
    types = encoded.dictionary.to_pylist()
    return Tokens(np.asarray(lengths, dtype=np.int64), _small(np.asarray(encoded.indices), types), types)


def _small(codes, types):
    """Codes in the narrowest unsigned type that holds them: characters take a byte each."""
    return codes.astype(np.min_scalar_type(max(len(types) - 1, 0)))


_PUNCTUATION = np.zeros(256, bool)
_PUNCTUATION[np.frombuffer(PUNCTUATION.encode(), np.uint8)] = True


_ASCII_LOWER = np.arange(256, dtype=np.uint8)
_ASCII_LOWER[ord("A") : ord("Z") + 1] += 32


def _buffers(strings):
    """(offsets, bytes) of an Arrow large_string array, as NumPy views."""
    _, offsets_buffer, data_buffer = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return offsets, data


def _lower_and_strip(strings):
    """STRIP_PUNCTUATION's characters removed and letters lower-cased, on the bytes where it can.

    The punctuation is ASCII, and no byte of a multi-byte UTF-8 character is ASCII, so deleting
    those bytes is safe; Arrow lower-cases non-ASCII text.
    """
    offsets, data = _buffers(strings)
    text = data[offsets[0] : offsets[-1]]
    if text.size and text.max() >= 0x80:
        offsets, data = _buffers(pc.utf8_lower(strings))
        text = data[offsets[0] : offsets[-1]]
    else:
        text = _ASCII_LOWER[text]
    removed = np.flatnonzero(_PUNCTUATION[text])
    starts = offsets - offsets[0]
    kept_starts = starts - np.searchsorted(removed, starts)
    return pa.LargeStringArray.from_buffers(len(strings), pa.py_buffer(kept_starts),
                                            pa.py_buffer(np.delete(text, removed).tobytes()))


def _characters(strings):
    """Code points, decoded from the UTF-8 bytes with NumPy (Arrow has no per-character split)."""
    offsets, data = _buffers(strings)
    text = data[offsets[0] : offsets[-1]]
    if not text.size or text.max() < 0x80:  # ASCII: a byte is a character
        distinct = np.flatnonzero(np.bincount(text, minlength=128))
        remap = np.zeros(128, np.uint8)
        remap[distinct] = np.arange(len(distinct))
        types = [chr(c) for c in distinct.tolist()]
        return Tokens(np.diff(offsets), _small(remap[text], types), types)
    data = np.concatenate([data[: offsets[-1]], np.zeros(3, np.uint8)]).astype(np.int64)
    lead = (data & 0xC0) != 0x80
    lead[offsets[-1] :] = False
    lead[: offsets[0]] = False
    starts = np.flatnonzero(lead)
    b0, b1, b2, b3 = (data[starts + k] & (0xFF if k == 0 else 0x3F) for k in range(4))
    points = np.where(b0 < 0x80, b0, np.where(
        b0 < 0xE0, (b0 & 0x1F) << 6 | b1, np.where(
            b0 < 0xF0, (b0 & 0x0F) << 12 | b1 << 6 | b2, (b0 & 0x07) << 18 | b1 << 12 | b2 << 6 | b3)))
    seen = np.concatenate([[0], np.cumsum(lead)])
    lengths = seen[offsets[1:]] - seen[offsets[:-1]]
    distinct, codes = np.unique(points, return_inverse=True)
    types = [chr(c) for c in distinct.tolist()]
    return Tokens(lengths.astype(np.int64), _small(codes, types), types)


def tokenize(strings, text):
    """`Tokens` of what a client or a data file gives, as the run's text contract says."""
    if text["input"] == "tokens":
        return token_lists([[token for token in row if token != ""] for row in strings])
    return split(strings, text["input"], text.get("lower_and_strip", False))


def tokenize_splits(splits, text):
    """`tokenize` of each split, on threads: Arrow and NumPy let go of the GIL, so cores share it."""
    with ThreadPoolExecutor(max_workers=min(len(splits), os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda strings: tokenize(strings, text), splits))


def joined(token_ids, vocabulary, separator):
    """Generated ids -> one string per row: the tokens before <eos>, padding left out."""
    tokens = np.asarray(vocabulary, dtype=object)[token_ids]
    eos = vocabulary.index("<eos>")
    keep = (np.cumsum(token_ids == eos, axis=-1) == 0) & (token_ids != 0)
    return np.array([separator.join(row[mask]) for row, mask in zip(tokens, keep)], dtype=object)


def names(probabilities, labels, ids=None):
    """The most probable label's name per row, or per step ("" where the step was padding)."""
    chosen = np.asarray(labels, dtype=object)[np.argmax(probabilities, axis=-1)]
    if ids is not None:
        chosen[np.asarray(ids) == 0] = ""
    return chosen


def as_texts(value: Sequence):
    """A list of Python strings from JSON values or a NumPy array of str/bytes."""
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]


def string_outputs(outputs, ids, contract):
    """The names a text contract adds to a model's outputs (as export.text computes them in-graph).

    outputs: the id model's outputs (NumPy); ids: its input (a word id of 0 marks padding for tags).
    """
    text = (contract.get("text") or {})
    kind = text.get("output")
    if kind == "text":
        return {"text": joined(outputs["token_ids"], contract["output_vocabulary"], text.get("join", ""))}
    if kind in ("label_name", "tag_names"):
        (probabilities,) = outputs.values()
        labels = [str(label) for label in contract["labels"]]
        return {kind: names(probabilities, labels, word_ids(ids) if kind == "tag_names" else None)}
    return {}
