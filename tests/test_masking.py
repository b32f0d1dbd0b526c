"""Padding must change nothing: a padded sequence answers as the same sequence unpadded."""

import numpy as np
import pytest

import zoo
from tests.tiny import TINY
from zoo.data import PAD_ID, PAD_VALUE

DIRECTIONS = [False, True]


def _padded(x, extra, value):
    pad = np.full((x.shape[0], extra, *x.shape[2:]), value, dtype=x.dtype)
    return np.concatenate([x, pad], axis=1)


@pytest.mark.parametrize("cell", list(zoo.CELLS))
@pytest.mark.parametrize("bidirectional", DIRECTIONS)
def test_continuous_padding_is_masked(cell, bidirectional, rng):
    spec, make_inputs, _ = TINY["many_to_one"]
    model = zoo.get_task("many_to_one").build_model(
        spec, cell=cell, bidirectional=bidirectional, layers=2, units=6)
    x = make_inputs(rng, 2, 5)
    np.testing.assert_allclose(model(x), model(_padded(x, 4, PAD_VALUE)), atol=1e-5)


@pytest.mark.parametrize("cell", list(zoo.CELLS))
@pytest.mark.parametrize("bidirectional", DIRECTIONS)
def test_token_padding_is_masked_at_every_real_step(cell, bidirectional, rng):
    spec, make_inputs, _ = TINY["tagging"]
    model = zoo.get_task("tagging").build_model(
        spec, cell=cell, bidirectional=bidirectional, layers=2, units=6)
    x = make_inputs(rng, 2, 5)
    np.testing.assert_allclose(model(x), model(_padded(x, 4, PAD_ID))[:, :5], atol=1e-5)


@pytest.mark.parametrize("cell", list(zoo.CELLS))
@pytest.mark.parametrize("bidirectional", DIRECTIONS)
def test_seq2seq_source_padding_is_masked(cell, bidirectional, rng):
    spec, make_inputs, _ = TINY["seq2seq"]
    model = zoo.get_task("seq2seq").build_model(
        spec, cell=cell, bidirectional=bidirectional, layers=2, units=6)
    source, decoder_input = make_inputs(rng, 2, 5)
    np.testing.assert_allclose(
        model([source, decoder_input]), model([_padded(source, 4, PAD_ID), decoder_input]), atol=1e-5)


def test_rows_of_different_lengths_match_their_own_unpadded_answers(rng):
    """A batch mixing lengths: each row equals that row run alone at its true length."""
    spec, make_inputs, _ = TINY["many_to_one"]
    model = zoo.get_task("many_to_one").build_model(spec, cell="gru", bidirectional=True, units=6)
    rows = [make_inputs(rng, 1, length) for length in (2, 7, 4)]
    batch = np.concatenate([_padded(row, 7 - row.shape[1], PAD_VALUE) for row in rows])
    alone = np.concatenate([model(row) for row in rows])
    np.testing.assert_allclose(model(batch), alone, atol=1e-5)
