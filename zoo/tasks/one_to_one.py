"""one_to_one: a feature vector -> a class, read by the recurrent stack as a one-step sequence."""

import numpy as np

from zoo import files
from zoo.architecture import recurrent_stack
from zoo.data import SKLEARN_DIGITS, Dataset, continuous_spec
from zoo.errors import ZooError
from zoo.files.series import read_npz
from zoo.files.tables import read_table
from zoo.presets import Preset
from zoo.registry import Task, register


def build(spec, arch):
    import keras

    from zoo.layers import ChunkSteps
    from zoo.model_io import prediction_head, standardize

    features = keras.Input(shape=(spec.num_features,), name="features")
    x = standardize(features, spec)
    if arch.chunk:  # read as steps of `chunk` features (8x8 pixels: the image's rows)
        x = keras.layers.Reshape((spec.num_features, 1), name="as_steps")(x)
        x = ChunkSteps(arch.chunk, name="chunk_steps")(x)
    else:
        x = keras.layers.Reshape((1, spec.num_features), name="as_one_step")(x)
    x = recurrent_stack(x, arch, return_sequences=False)
    outputs = prediction_head(x, spec, "label")
    return keras.Model(features, outputs, name="one_to_one")


def load_digits_vectors(seed=0, max_len=None):
    """scikit-learn's 1,797 handwritten digits (8x8 pixels as 64 features), split 60/20/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

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
        labels=[str(d) for d in range(10)], notes={"licence": SKLEARN_DIGITS},
    )


def load_vector_files(files_, seed=0, max_len=None, label="label"):
    """`.csv` / `.tsv` / `.jsonl` of numeric feature columns and a label column, or `.npz` x, y."""
    del max_len  # a vector has no length to cut
    if files_.extension == ".npz":
        def read(path):
            x, y = read_npz(path)
            if not isinstance(x, np.ndarray) or x.ndim != 2:
                raise ZooError(f"{path}: 'x' must be vectors [examples, features] for one_to_one; "
                               "sequences are many_to_one's data.")
            return x, y
    else:
        def read(path):
            table = read_table(path)
            features = [name for name in table.table.column_names if name != label]
            table.column(label, "label")  # says which columns exist when the label column is missing
            return table.numbers(features, "features"), table.texts(label, "label")
    train, validation, test = files.read_splits(files_, read)
    train, validation, test = files.split(train, validation, test, seed, labels=files.class_codes(train[1]))
    for split in (validation, test):
        if split[0].shape[1] != train[0].shape[1]:
            raise ZooError(f"{files_.train} has {train[0].shape[1]} features but another split has "
                           f"{split[0].shape[1]}.")
    labels, (y_train, y_val, y_test) = files.label_ids(train[1], validation[1], test[1], files_)
    return Dataset(
        files_.name, continuous_spec("classification", len(labels), train[0]),
        train[0], y_train, validation[0], y_val, test[0], y_test, labels=labels,
        notes={"source": str(files_.train)}, text={"input": None, "output": "label_name"},
    )


TASK = register(
    Task(
        name="one_to_one",
        shape="vector -> label",
        example="classify one feature vector",
        build=build,
        datasets={"digits": load_digits_vectors},
        architecture_options=("chunk",),
        ensembles=True,
        presets=(Preset(
            "digits_bigru", "one_to_one", "digits",
            {"cell": "gru", "bidirectional": True, "units": 128, "chunk": 8, "schedule": "cosine",
             "learning_rate": 3e-3, "epochs": 60},
            "two GRU directions read the 8x8 image row by row (chunks of 8 pixels), not as one step of 64.",
            "validation accuracy of single runs: GRU 0.969, bidirectional GRU 0.989, LSTM 0.961 (all "
            "128 units, rows as steps, 60 cosine epochs)"),),
        default_dataset="digits",
        formats=(files.FileFormat("feature columns and a label column, or NumPy x, y",
                                  (".csv", ".tsv", ".jsonl", ".npz"), load_vector_files),),
        defaults={"epochs": 60, "batch_size": 32, "learning_rate": 3e-3, "patience": 8},
    )
)
