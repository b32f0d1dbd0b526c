"""ENSEMBLE=N: N members of one architecture, each from its own initial weights (or ENSEMBLE="cell=lstm;
cell=gru ...": members of listed architectures), trained side by side and answering as one model that
averages their probabilities (or values). InceptionTime's practice (Ismail
Fawaz et al. 2020: five members), here as one graph, so that every export holds the whole ensemble.

Each member is trained by its own loss (the mean of the members' losses: the gradients never mix, and
Adam and gradient clipping act per weight), not by the loss of the mean, which would let members lean
on each other. The metrics of a run are the ensemble's, under the names a single model's have.
"""

import keras

# The prefix of member k's layers (member_1_label, member_2_rnn_1, ...).
MEMBER = "member_{}_"


def members_of(models):
    """(answer model, fit model) for members shaped as `models` (built by a task's builder, for one data
    set: the same inputs; the same model repeated for members of one architecture).

    Both read the inputs the models read. The answer model averages the members' outputs under the
    output's own name: the run saves and exports it. The fit model stacks them, [batch, members, ...],
    for member_loss and of_the_mean. Member k is a copy of the k-th model's layers (its own weights,
    freshly initialised) named MEMBER + the layer's name, all in one flat graph.
    """
    model = models[0]
    inputs = keras.tree.map_structure(
        lambda tensor: keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=tensor.name),
        model.input)
    outputs = [keras.models.clone_model(each, input_tensors=inputs, clone_function=_renamed(k)).output
               for k, each in enumerate(models, start=1)]
    (name,) = model.output_names
    answer = keras.Model(inputs, keras.layers.Average(name=name)(outputs), name=model.name)
    fit = keras.Model(inputs, Stack(name="members")(outputs), name=f"{model.name}_members")
    return answer, fit


def _renamed(k):
    def clone(layer):
        config = layer.get_config()
        config["name"] = MEMBER.format(k) + layer.name
        return layer.__class__.from_config(config)

    return clone


def member(model, k):
    """Member k (from 1) of an answer model, as a model of its own (same inputs, member k's output)."""
    (name,) = model.output_names
    return keras.Model(model.input, model.get_layer(MEMBER.format(k) + name).output, name=f"member_{k}")


class Stack(keras.layers.Layer):
    """The members' outputs side by side: [batch, members, ...]."""

    def call(self, outputs):
        return keras.ops.stack(outputs, axis=1)

    def compute_output_shape(self, shapes):
        return (shapes[0][0], len(shapes), *shapes[0][1:])


class MemberLoss(keras.losses.Loss):
    """A loss of one model's output applied to each member's, averaged over the members."""

    def __init__(self, loss, name=None, **kwargs):
        self.loss = keras.losses.get(loss)
        super().__init__(name=name or getattr(self.loss, "name", None) or "loss", **kwargs)

    def call(self, y_true, y_pred):
        count = y_pred.shape[1]
        return sum(self.loss(y_true, y_pred[:, k]) for k in range(count)) / count


# The metric objects a model's compile strings stand for, where they are not objects already.
_METRICS = {
    "accuracy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
    "root_mean_squared_error": lambda: keras.metrics.RootMeanSquaredError(name="root_mean_squared_error"),
}


class OfTheMean(keras.metrics.Metric):
    """A metric of the ensemble's answer (the mean over the members' axis), under the metric's own name."""

    def __init__(self, metric, **kwargs):
        metric = _METRICS[metric]() if isinstance(metric, str) else metric
        super().__init__(name=metric.name, **kwargs)
        self.metric = metric

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.metric.update_state(y_true, keras.ops.mean(y_pred, axis=1), sample_weight)

    def result(self):
        return self.metric.result()

    def reset_state(self):
        self.metric.reset_state()


def member_loss_and_metrics(loss, metrics):
    """A task's (loss, metrics) made to read the fit model's stacked output."""
    return MemberLoss(loss), [OfTheMean(metric) for metric in metrics]
