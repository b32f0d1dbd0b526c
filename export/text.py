"""Strings in and strings out of an exported SavedModel, in TensorFlow ops.

A run trained on the user's files has a text contract (data.json's "text", written by its task's
loader). The export then serves:
    serving_default: what the training file held (one string per example for words or characters,
        a [batch, time] string tensor padded with "" for token lists; numbers where the file held
        numbers), and answers the model's outputs plus their names (label_name, tag_names or text);
    serving_ids: the same answers from token ids, for clients that send ids.
The steps are zoo.text's, in TensorFlow: lower-case and strip punctuation (words), split on ASCII
whitespace or into code points, look up the vocabulary (unknown: <unk>), right-pad with 0.
Every export checks them equal to zoo.text on held-out examples (export.verify).
"""

import tensorflow as tf

from zoo.text import SPELLING, STRIP_PUNCTUATION


def _table(tokens, default):
    keys = list(tokens)
    values = list(range(len(tokens)))
    if "" not in keys:
        keys.append("")  # padding of a token-list input
        values.append(0)
    initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values, tf.int32))
    return tf.lookup.StaticHashTable(initializer, default_value=default)


def _unk_table(vocabulary):
    return _table(vocabulary, vocabulary.index("<unk>") if "<unk>" in vocabulary else 0)


def _spelled(strings, ids, table):
    """[batch, steps, 1 + SPELLING]: each token's id, then its characters' ids as zoo.text.spelling
    takes them (all up to SPELLING, else the first and last SPELLING // 2), 0 after them."""
    lengths = tf.cast(tf.strings.length(strings, unit="UTF8_CHAR"), tf.int32)[..., None]
    characters = tf.strings.unicode_split(strings, "UTF-8").to_tensor("")
    characters = tf.pad(characters, [[0, 0], [0, 0], [0, tf.maximum(SPELLING - tf.shape(characters)[2], 0)]],
                        constant_values="")
    slot = tf.range(SPELLING)
    long_word = lengths > SPELLING
    source = tf.where(long_word & (slot >= SPELLING // 2), lengths - SPELLING + slot, slot)
    spelt = tf.where(slot < lengths, table.lookup(tf.gather(characters, source, batch_dims=2)), 0)
    return tf.concat([ids[..., None], spelt], axis=-1)


def _encoder(text, vocabulary, characters=None):
    """strings -> right-padded int32 ids (spelled with a character vocabulary), and the lookup tables to
    track in the export."""
    table = _unk_table(vocabulary)
    character_table = characters and _unk_table(characters)

    def encode(strings):
        if text["input"] == "tokens":
            ids = table.lookup(strings)
            return ids if character_table is None else _spelled(strings, ids, character_table)
        if text["input"] == "characters":
            pieces = tf.strings.unicode_split(strings, "UTF-8")
        else:
            if text.get("lower_and_strip"):
                strings = tf.strings.regex_replace(tf.strings.lower(strings, encoding="utf-8"),
                                                   STRIP_PUNCTUATION, "")
            pieces = tf.strings.split(strings)
        ids = tf.ragged.map_flat_values(table.lookup, pieces).to_tensor(0)
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])  # at least one step

    return encode, [table] + ([character_table] if character_table is not None else [])


def _namer(contract, outputs_of_ids):
    """ids and the id function's outputs -> the string outputs the contract names."""
    text = contract["text"]
    if text["output"] == "text":
        vocabulary = contract["output_vocabulary"]
        words = tf.constant(vocabulary)
        eos = vocabulary.index("<eos>")

        def name(ids, outputs):
            token_ids = outputs["token_ids"]
            keep = (tf.cumsum(tf.cast(token_ids == eos, tf.int32), axis=-1) == 0) & (token_ids != 0)
            kept = tf.ragged.boolean_mask(tf.gather(words, token_ids), keep)
            return {"text": tf.strings.reduce_join(kept, axis=-1, separator=text.get("join", ""))}

        return name
    if text["output"] in ("label_name", "tag_names"):
        labels = tf.constant([str(label) for label in contract["labels"]])
        (probabilities_name,) = outputs_of_ids

        def name(ids, outputs):
            chosen = tf.gather(labels, tf.argmax(outputs[probabilities_name], axis=-1))
            if text["output"] == "tag_names":
                words = ids[..., 0] if ids.shape.rank == 3 else ids  # a spelled input: its word ids
                chosen = tf.where(words == 0, tf.constant(""), chosen)
            return {text["output"]: chosen}

        return name
    return None


def text_endpoints(id_function, contract):
    """{signature name: tf.function} and the resources to track; empty without a text contract."""
    text = contract.get("text")
    if not text:
        return {}, []
    spec = id_function.input_signature[0]
    outputs_of_ids = sorted(id_function.get_concrete_function().structured_outputs)
    name = _namer(contract, outputs_of_ids)

    def answer(ids):
        outputs = id_function(ids)
        return {**outputs, **(name(ids, outputs) if name else {})}

    if text["input"] is None:
        if name is None:  # numbers in and out: the function as it is (it may take several inputs)
            return {}, []
        return {"serving_default": tf.function(answer, input_signature=[spec])}, []
    encode, tables = _encoder(text, contract["input_vocabulary"], contract.get("character_vocabulary"))
    shape = [None, None] if text["input"] == "tokens" else [None]
    strings_spec = tf.TensorSpec(shape, tf.string, name=spec.name)

    def answer_strings(strings):
        return answer(encode(strings))

    return {
        "serving_default": tf.function(answer_strings, input_signature=[strings_spec]),
        "serving_ids": tf.function(answer, input_signature=[spec]),
    }, tables
