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

from zoo.text import STRIP_PUNCTUATION


def _table(tokens, default):
    keys = list(tokens)
    values = list(range(len(tokens)))
    if "" not in keys:
        keys.append("")  # padding of a token-list input
        values.append(0)
    initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values, tf.int32))
    return tf.lookup.StaticHashTable(initializer, default_value=default)


def _encoder(text, vocabulary):
    """strings -> right-padded int32 ids, and the lookup table to track in the export."""
    unk = vocabulary.index("<unk>") if "<unk>" in vocabulary else 0
    table = _table(vocabulary, unk)

    def encode(strings):
        if text["input"] == "tokens":
            return table.lookup(strings)
        if text["input"] == "characters":
            pieces = tf.strings.unicode_split(strings, "UTF-8")
        else:
            if text.get("lower_and_strip"):
                strings = tf.strings.regex_replace(tf.strings.lower(strings, encoding="utf-8"),
                                                   STRIP_PUNCTUATION, "")
            pieces = tf.strings.split(strings)
        ids = tf.ragged.map_flat_values(table.lookup, pieces).to_tensor(0)
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])  # at least one step

    return encode, table


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
                chosen = tf.where(ids == 0, tf.constant(""), chosen)
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
    encode, table = _encoder(text, contract["input_vocabulary"])
    shape = [None, None] if text["input"] == "tokens" else [None]
    strings_spec = tf.TensorSpec(shape, tf.string, name=spec.name)

    def answer_strings(strings):
        return answer(encode(strings))

    return {
        "serving_default": tf.function(answer_strings, input_signature=[strings_spec]),
        "serving_ids": tf.function(answer, input_signature=[spec]),
    }, [table]
