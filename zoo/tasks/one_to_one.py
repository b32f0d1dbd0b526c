"""one_to_one: a feature vector -> a class, read by the recurrent stack as a one-step sequence."""

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from zoo.architecture import recurrent_stack
from zoo.data import Dataset, continuous_spec
from zoo.model_io import prediction_head, standardize
from zoo.registry import Task, register


def build(spec, arch):
    features = keras.Input(shape=(spec.num_features,), name="features")
    x = keras.layers.Reshape((1, spec.num_features), name="as_one_step")(standardize(features, spec))
    x = recurrent_stack(x, arch, return_sequences=False)
    outputs = prediction_head(x, spec, "label")
    return keras.Model(features, outputs, name="one_to_one")


def load_digits_vectors(seed=0, max_len=None):
    """scikit-learn's 1,797 handwritten digits (8x8 pixels as 64 features), split 60/20/20."""
    del max_len  # a vector has no length to cut
    digits = load_digits()
    x, y = digits.data.astype("float32"), digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=0.25, stratify=y_train, random_state=seed
    )
    return Dataset(
        "digits", continuous_spec("classification", 10, x_train),
        x_train, y_train, x_val, y_val, x_test, y_test,
        labels=[str(d) for d in range(10)],
    )


TASK = register(
    Task(
        name="one_to_one",
        shape="vector -> label",
        example="classify one feature vector",
        build=build,
        datasets={"digits": load_digits_vectors},
        default_dataset="digits",
        defaults={"epochs": 60, "batch_size": 32, "learning_rate": 3e-3, "patience": 8},
    )
)
