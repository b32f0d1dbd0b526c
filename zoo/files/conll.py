"""Tagged sentences from CoNLL-U (`.conllu`) and CoNLL-2003 style (`.conll`, `.txt`) files.

CoNLL-U (universaldependencies.org/format.html): ten tab-separated fields per word line, `#`
comment lines, a blank line after each sentence. Multi-word token ranges (ID `3-4`) and empty
nodes (ID `5.1`) are not words of the sentence and are skipped, as the format defines; every other
ID must count 1, 2, ... within its sentence. CoNLL-2003: `token ... tag` per line (spaces or tabs),
a blank line between sentences, `-DOCSTART-` lines skipped.

Both read the whole file as arrays (zoo.files.lines), never line by line in Python.
"""

import numpy as np
import pyarrow.compute as pc

from zoo.files.lines import read_lines
from zoo.text import Tokens, encoded

CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4}


def _sentences(lines, word_rows, forms, tags):
    """Tokens of forms and of tags, one row per sentence (sentences split at blank lines)."""
    sentence_of_line = np.cumsum(lines.blank)
    _, lengths = np.unique(sentence_of_line[word_rows], return_counts=True)
    return encoded(forms, lengths), encoded(tags, lengths)


def read_conllu(path, tag="upos") -> tuple[Tokens, Tokens]:
    if tag not in CONLLU_TAG_COLUMNS:
        raise ValueError(f"tag={tag!r}: a CoNLL-U file has tag columns {', '.join(CONLLU_TAG_COLUMNS)}.")
    lines = read_lines(path)
    data = lines.data
    rows = np.flatnonzero(~lines.blank & (data[np.minimum(lines.starts, len(data) - 1)] != ord("#")))
    if not len(rows):
        raise_no_words(lines, "CoNLL-U")
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
    sentence = np.cumsum(lines.blank)[word_rows]
    first_of_sentence = np.concatenate([[True], sentence[1:] != sentence[:-1]])
    position = np.arange(len(word_rows)) - np.maximum.accumulate(
        np.where(first_of_sentence, np.arange(len(word_rows)), 0))
    wrong = np.flatnonzero(value != position + 1)
    if len(wrong):
        lines.fail(word_rows[wrong[0]], f"word ID {value[wrong[0]]} where {position[wrong[0]] + 1} was "
                   "expected: word IDs count 1, 2, ... in each sentence, and a blank line ends a sentence.")
    forms = lines.strings(*(part[word] for part in field(1)))
    tags = lines.strings(*(part[word] for part in field(CONLLU_TAG_COLUMNS[tag])))
    return _sentences(lines, word_rows, forms, tags)


def read_conll2003(path) -> tuple[Tokens, Tokens]:
    """The first field of each line is the token, the last its tag."""
    lines = read_lines(path)
    rows = np.flatnonzero(~lines.blank)
    count, field = lines.fields(rows, b" \t")
    token_start, token_end = field(0)
    docstart = np.asarray(pc.equal(lines.strings(token_start, token_end), "-DOCSTART-"))
    rows, count = rows[~docstart], count[~docstart]
    if not len(rows):
        raise_no_words(lines, "CoNLL-2003")
    wrong = np.flatnonzero(count < 2)
    if len(wrong):
        lines.fail(rows[wrong[0]], "expected a token and its tag separated by a space (CoNLL-2003: "
                   "`token ... tag` per line, a blank line between sentences).")
    count, field = lines.fields(rows, b" \t")
    forms = lines.strings(*field(0))
    tags = lines.strings(*field(-1))
    empty = np.flatnonzero((field(0)[1] == field(0)[0]) | (field(-1)[1] == field(-1)[0]))
    if len(empty):
        lines.fail(rows[empty[0]], "a token or tag is empty: separate fields by one space or tab.")
    return _sentences(lines, rows, forms, tags)


def raise_no_words(lines, format_name):
    from zoo.errors import DataFileError

    raise DataFileError(lines.path, f"holds no word lines; is it a {format_name} file?")
