"""Tagged sentences from CoNLL-U (`.conllu`) and CoNLL-2003 style (`.conll`, `.txt`) files.

CoNLL-U (universaldependencies.org/format.html): ten tab-separated fields per word line, `#`
comment lines, a blank line after each sentence. Multi-word token ranges (ID `3-4`) and empty
nodes (ID `5.1`) are not words of the sentence and are skipped, as the format defines; every other
ID must count 1, 2, ... within its sentence. CoNLL-2003: `token ... tag` per line (spaces or tabs),
a blank line between sentences, `-DOCSTART-` lines skipped.

Both read the whole file as arrays (zoo.files.lines), never line by line in Python.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zoo.errors import DataFileError
from zoo.files.lines import read_lines
from zoo.text import Tokens, encoded

CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4}


def read_conllu(path, tag="upos") -> tuple[Tokens, Tokens]:
    if tag not in CONLLU_TAG_COLUMNS:
        raise ValueError(f"tag={tag!r}: a CoNLL-U file has tag columns {', '.join(CONLLU_TAG_COLUMNS)}.")
    return _in_blocks(read_lines(path), "CoNLL-U", lambda block: _conllu_block(block, tag))


def _in_blocks(lines, format_name, read_block):
    """Reads a file a block of whole sentences at a time: (forms, tags) as Tokens of sentences."""
    forms, tags, lengths = [], [], []
    for block in lines.blocks(at_blank=True):
        read = read_block(block)
        if read is not None:
            for parts, part in zip((forms, tags, lengths), read):
                parts.append(part)
    if not lengths:
        raise_no_words(lines, format_name)
    lengths = np.concatenate(lengths)
    return encoded(pa.concat_arrays(forms), lengths), encoded(pa.concat_arrays(tags), lengths)


def _sentences(lines, word_rows):
    """The sentence of each word line: sentences are cut at blank lines."""
    return np.cumsum(lines.blank)[word_rows]


def _lengths(sentence):
    return np.unique(sentence, return_counts=True)[1]


def _conllu_block(lines, tag):
    data = lines.data
    rows = np.flatnonzero(~lines.blank & (data[np.minimum(lines.starts, len(data) - 1)] != ord("#")))
    if not len(rows):
        return None
    count, field = lines.fields(rows, b"\t")
    wrong = np.flatnonzero(count != 10)
    if len(wrong):
        lines.fail(rows[wrong[0]], f"expected 10 tab-separated fields (CoNLL-U), found {count[wrong[0]]}.")
    id_start, id_end = field(0)
    size = id_end - id_start
    dashes, dots, others = (np.zeros(len(rows), np.int64) for _ in range(3))
    for k in range(int(min(size.max(initial=0), 16))):  # IDs are a few bytes: look at each position
        inside = k < size
        byte = data[np.minimum(id_start + k, len(data) - 1)]
        dashes += inside & (byte == ord("-"))
        dots += inside & (byte == ord("."))
        others += inside & ((byte < ord("0")) | (byte > ord("9"))) & (byte != ord("-")) & (byte != ord("."))
    others += size > 16
    word = (size > 0) & (size <= 6) & (dashes == 0) & (dots == 0) & (others == 0)
    skipped = (size >= 3) & (others == 0) & (dashes + dots == 1)  # a range 3-4 or an empty node 5.1
    broken = np.flatnonzero(~word & ~skipped)
    if len(broken):
        line = rows[broken[0]]
        bad = bytes(data[id_start[broken[0]] : id_end[broken[0]]]).decode()
        lines.fail(line, f"ID {bad!r} is not a word index (1, 2, ...), a range (3-4) or an empty node (5.1).")
    word_rows, starts, sizes = rows[word], id_start[word], size[word]
    value = np.zeros(len(word_rows), np.int64)
    for k in range(int(sizes.max(initial=0))):
        inside = k < sizes
        value[inside] = value[inside] * 10 + data[starts[inside] + k] - ord("0")
    sentence = _sentences(lines, word_rows)
    first_of_sentence = np.concatenate([[True], sentence[1:] != sentence[:-1]])
    position = np.arange(len(word_rows)) - np.maximum.accumulate(
        np.where(first_of_sentence, np.arange(len(word_rows)), 0))
    wrong = np.flatnonzero(value != position + 1)
    if len(wrong):
        lines.fail(word_rows[wrong[0]], f"word ID {value[wrong[0]]} where {position[wrong[0]] + 1} was "
                   "expected: word IDs count 1, 2, ... in each sentence, and a blank line ends a sentence.")
    forms = lines.strings(*(part[word] for part in field(1)))
    tags = lines.strings(*(part[word] for part in field(CONLLU_TAG_COLUMNS[tag])))
    return forms, tags, _lengths(sentence)


def read_conll2003(path) -> tuple[Tokens, Tokens]:
    """The first field of each line is the token, the last its tag."""
    return _in_blocks(read_lines(path), "CoNLL-2003", _conll2003_block)


def _conll2003_block(lines):
    rows = np.flatnonzero(~lines.blank)
    if not len(rows):
        return None
    count, field = lines.fields(rows, b" \t")
    (token_start, token_end), (tag_start, tag_end) = field(0), field(-1)
    kept = ~np.asarray(pc.equal(lines.strings(token_start, token_end), "-DOCSTART-"))
    rows, count = rows[kept], count[kept]
    token_start, token_end, tag_start, tag_end = (part[kept] for part in (token_start, token_end, tag_start,
                                                                          tag_end))
    if not len(rows):
        return None
    wrong = np.flatnonzero(count < 2)
    if len(wrong):
        lines.fail(rows[wrong[0]], "expected a token and its tag separated by a space (CoNLL-2003: "
                   "`token ... tag` per line, a blank line between sentences).")
    empty = np.flatnonzero((token_end == token_start) | (tag_end == tag_start))
    if len(empty):
        lines.fail(rows[empty[0]], "a token or tag is empty: separate fields by one space or tab.")
    forms, tags = lines.strings(token_start, token_end), lines.strings(tag_start, tag_end)
    return forms, tags, _lengths(_sentences(lines, rows))


def raise_no_words(lines, format_name):
    raise DataFileError(lines.path, f"holds no word lines; is it a {format_name} file?")
