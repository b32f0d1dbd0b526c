import itertools

import numpy as np
import pytest

import zoo
from tests.tiny import TINY

ARCHITECTURES = list(itertools.product(zoo.CELLS, (False, True), (1, 2)))


@pytest.mark.parametrize("task_name", zoo.list_tasks())
@pytest.mark.parametrize(("cell", "bidirectional", "layers"), ARCHITECTURES)
def test_every_architecture_builds_with_the_right_output_shape(task_name, cell, bidirectional, layers, rng):
    spec, make_inputs, expected_shape = TINY[task_name]
    task = zoo.get_task(task_name)
    if task_name == "one_to_many" and bidirectional:
        with pytest.raises(ValueError, match="bidirectional=False"):
            task.build_model(spec, cell=cell, bidirectional=True, layers=layers, units=4)
        # With chunk=N a recurrent encoder reads the vector, both ways; the decoder stays one-way.
        model = task.build_model(spec, cell=cell, bidirectional=True, layers=layers, units=4, chunk=2)
        assert tuple(model(make_inputs(rng, 2, 5)).shape) == expected_shape(2, 5)
        return
    model = task.build_model(spec, cell=cell, bidirectional=bidirectional, layers=layers, units=4)
    recurrent = [layer for layer in model.layers if isinstance(layer, zoo.CELLS[cell])]
    wrapped = [layer.forward_layer for layer in model.layers if hasattr(layer, "forward_layer")]
    # seq2seq stacks an encoder and a decoder; one_to_many's image enters through dense layers.
    stacks = 2 if task_name == "seq2seq" else 1
    assert len(recurrent) + len(wrapped) == stacks * layers
    assert len(wrapped) == (layers if bidirectional else 0)
    for length in (3, 9):
        outputs = model(make_inputs(rng, 2, length))
        assert tuple(outputs.shape) == expected_shape(2, length)
        assert np.all(np.isfinite(outputs))


def test_regression_head_predicts_in_the_targets_units(rng):
    from dataclasses import replace

    spec, make_inputs, _ = TINY["many_to_one"]
    spec = replace(spec, kind="regression", num_outputs=1, target_mean=1000.0, target_std=1e-6)
    model = zoo.get_task("many_to_one").build_model(spec, units=4)
    # With a tiny spread, every prediction sits at the training targets' mean.
    np.testing.assert_allclose(model(make_inputs(rng, 3, 5)), 1000.0, rtol=1e-6)


def test_token_input_many_to_one_embeds_tokens(rng):
    spec, make_inputs, _ = TINY["tagging"]
    model = zoo.get_task("many_to_one").build_model(spec, cell="gru", units=4)
    assert model.get_layer("embed").mask_zero
    assert tuple(model(make_inputs(rng, 2, 6)).shape) == (2, 5)


def test_each_layer_can_have_its_own_hidden_size(rng):
    spec, make_inputs, _ = TINY["seq2seq"]
    model = zoo.get_task("seq2seq").build_model(spec, cell="lstm", bidirectional=True, layers=2,
                                                units=[6, 3])
    sizes = [layer.forward_layer.units for layer in model.layers if hasattr(layer, "forward_layer")]
    assert sizes == [6, 3]
    # Each decoder layer is as wide as the two directions of its encoder layer.
    assert [model.get_layer(f"decoder_{i}").units for i in (1, 2)] == [12, 6]
    assert tuple(model(make_inputs(rng, 2, 4)).shape) == (2, 6, 5)


def test_a_size_per_layer_must_match_the_depth():
    spec = TINY["tagging"][0]
    with pytest.raises(ValueError, match="units gives 3 sizes for 2 layers"):
        zoo.get_task("tagging").build_model(spec, layers=2, units=[8, 8, 8])
