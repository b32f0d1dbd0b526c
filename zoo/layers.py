"""The zoo's own Keras layer: ChunkSteps, which makes a sequence fewer, wider steps.

Registered with Keras, so model.keras files load where zoo is imported; export.fused writes it as
plain ONNX ops, and the SavedModel and LiteRT exports trace it like any Keras layer.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_zoo")
class ChunkSteps(keras.layers.Layer):
    """[batch, steps, features] -> [batch, ceil(steps / size), size * features].

    Each new step holds `size` consecutive steps side by side. The last one is filled up with zeros
    when `steps` is not a multiple of `size`. With a mask, padded steps are zeroed first, and a new
    step is masked when its first step was, that is, with right padding (the zoo's), when every step in
    it was; right padding stays right padding.
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.supports_masking = True

    def _fill(self, steps):
        return (self.size - steps % self.size) % self.size

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        fill = self._fill(ops.shape(inputs)[1])
        inputs = ops.pad(inputs, [[0, 0], [0, fill], [0, 0]])
        return ops.reshape(inputs, (ops.shape(inputs)[0], -1, self.size * inputs.shape[-1]))

    def compute_mask(self, inputs, mask=None):
        # A new step is real where its first step is: with right padding, where any step in it is.
        # (A strided slice, unlike padding to a multiple, also works while the model is being built.)
        return None if mask is None else mask[:, :: self.size]

    def compute_output_shape(self, input_shape):
        batch, steps, features = input_shape
        steps = None if steps is None else -(-steps // self.size)
        return batch, steps, self.size * features

    def get_config(self):
        return {**super().get_config(), "size": self.size}
