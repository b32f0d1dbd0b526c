"""Padding must change nothing: a padded sequence answers as the same sequence unpadded."""

import keras
import numpy as np
import pytest

import zoo
from tests.tiny import TINY
from zoo.architecture import ATTENTIONS, FRONT_ENDS, READOUTS
from zoo.data import PAD_ID, PAD_VALUE


def _padded(x, extra, value):
    pad = np.full((x.shape[0], extra, *x.shape[2:]), value, dtype=x.dtype)
    return np.concatenate([x, pad], axis=1)


# task -> (pads its inputs by 4 steps, keeps the outputs of the 5 real steps)
PADDING = {
    "many_to_one": (lambda x: _padded(x, 4, PAD_VALUE), lambda y: y),
    "tagging": (lambda x: _padded(x, 4, PAD_ID), lambda y: y[:, :5]),
    "seq2seq": (lambda x: [_padded(x[0], 4, PAD_ID), x[1]], lambda y: y),
}


@pytest.mark.parametrize("task_name", list(PADDING))
@pytest.mark.parametrize("cell", list(zoo.CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_no_output_of_a_real_step(task_name, cell, bidirectional, rng):
    spec, make_inputs, _ = TINY[task_name]
    pad_inputs, real_steps = PADDING[task_name]
    model = zoo.get_task(task_name).build_model(
        spec, cell=cell, bidirectional=bidirectional, layers=2, units=6)
    x = make_inputs(rng, 2, 5)
    np.testing.assert_allclose(model(x), real_steps(model(pad_inputs(x))), atol=1e-5)


@pytest.mark.parametrize("architecture", [{"readout": readout} for readout in READOUTS] + [
    {"chunk": 3, "front_end": front_end} for front_end in FRONT_ENDS])
def test_rows_of_different_lengths_match_their_own_unpadded_answers(architecture, rng):
    """A batch mixing lengths: each row equals that row run alone at its true length, whatever reads
    the steps out (the last real one, their mean, their attention-weighted sum) and whatever makes
    chunks of 3 (side by side, or a learnt strided convolution; a row of 7 or 4 fills its last one)."""
    spec, make_inputs, _ = TINY["many_to_one"]
    model = zoo.get_task("many_to_one").build_model(spec, cell="gru", bidirectional=True, units=6,
                                                    **architecture)
    if architecture.get("front_end") == "conv":
        assert "strided_conv" in {layer.name for layer in model.layers}
    rows = [make_inputs(rng, 1, length) for length in (2, 7, 4)]
    batch = np.concatenate([_padded(row, 9 - row.shape[1], PAD_VALUE) for row in rows])
    alone = np.concatenate([model(row) for row in rows])
    np.testing.assert_allclose(model(batch), alone, atol=1e-5)
    # Padding read as steps would change the answer: the test can fail.
    filled = np.where(batch == PAD_VALUE, 0.5, batch).astype("float32")
    assert not np.allclose(model(filled), alone, atol=1e-4)


def test_z_normalised_series_answer_alike_padded_or_not_and_whatever_their_level_and_scale(rng):
    """ZNORM=1: each series by its own mean and spread over its real steps, so padding changes nothing,
    and a series shifted and scaled answers as the series itself."""
    spec, make_inputs, _ = TINY["many_to_one"]
    model = zoo.get_task("many_to_one").build_model(spec, cell="gru", units=6, readout="mean", znorm=True)
    rows = [make_inputs(rng, 1, length) for length in (3, 7, 5)]
    batch = np.concatenate([_padded(row, 7 - row.shape[1], PAD_VALUE) for row in rows])
    alone = np.concatenate([model(row) for row in rows])
    np.testing.assert_allclose(model(batch), alone, atol=1e-5)
    moved = np.concatenate([model(row * 40.0 - 7.0) for row in rows])
    np.testing.assert_allclose(moved, alone, atol=1e-4)
    # Without it the training data's statistics apply, and level and scale change the answer.
    plain = zoo.get_task("many_to_one").build_model(spec, cell="gru", units=6, readout="mean")
    assert not np.allclose(plain(rows[0] * 40.0 - 7.0), plain(rows[0]), atol=1e-3)


@pytest.mark.parametrize("attention", [a for a in ATTENTIONS if a != "none"])
def test_a_decoders_attention_never_reads_the_sources_padding(attention, rng):
    """Each row of a batch of sources of several lengths answers as it does alone, its padded source
    steps weigh exactly 0, and the attention does change the answer (so the test can fail)."""
    spec, make_inputs, _ = TINY["seq2seq"]
    model = zoo.get_task("seq2seq").build_model(spec, cell="lstm", bidirectional=True, units=6,
                                                attention=attention)
    sources = [make_inputs(rng, 1, length)[0] for length in (2, 7, 4)]
    tokens = make_inputs(rng, 3, 5)[1]
    batch = np.concatenate([_padded(row, 9 - row.shape[1], PAD_ID) for row in sources])
    alone = np.concatenate([model([row, tokens[i : i + 1]]) for i, row in enumerate(sources)])
    np.testing.assert_allclose(model([batch, tokens]), alone, atol=1e-5)
    query, values = keras.Model(model.inputs, model.get_layer("attention").input)([batch, tokens])
    weights = np.asarray(model.get_layer("attention").weights_over_source([query, values],
                                                                          [None, batch != PAD_ID]))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert not weights[0, :, 2:].any() and not weights[2, :, 4:].any() and weights[1, :, :7].all()
    mixing = model.get_layer("attentional")  # reads [decoder output, context]: blind it to the context
    kernel, bias = mixing.get_weights()
    mixing.set_weights([np.concatenate([kernel[: query.shape[-1]], 0 * kernel[query.shape[-1] :]]), bias])
    assert not np.allclose(model([batch, tokens]), alone, atol=1e-4)
