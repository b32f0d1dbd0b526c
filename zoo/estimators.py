"""scikit-learn estimators over many_to_one: `RecurrentClassifier().fit(X, y).predict(X)`, as aeon's
and sktime's series classifiers are called.

X is [examples, steps] (one value per step) or [examples, steps, features]; y a label per example
(classes of any type) or a value (or several) per example for the regressor. `fit` holds out
`validation_fraction` of X (stratified by class) for early stopping and trains a zoo run on the rest:
the same run `zoo.train` writes, in `run_dir` (a new temporary folder unless given; the split arrays
beside it in `<run_dir>-data/`), so it exports and serves like any other
(`zoo.load(estimator.run_dir_)`). Settings left as None are the task's defaults,
chosen by its rules from the data (chunking, the convolutional branch, z-normalisation, width).
"""

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

# The estimators' parameters that are TrainConfig settings of the same name.
SETTINGS = ("cell", "layers", "units", "bidirectional", "dropout", "epochs", "batch_size", "learning_rate",
            "patience", "ensemble", "seed")


class _RecurrentEstimator(BaseEstimator):
    def __init__(self, cell=None, layers=None, units=None, bidirectional=None, dropout=None, epochs=None,
                 batch_size=None, learning_rate=None, patience=None, ensemble=None, seed=42,
                 validation_fraction=0.2, run_dir=None, verbose=0):
        self.cell = cell
        self.layers = layers
        self.units = units
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.ensemble = ensemble
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.run_dir = run_dir
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # [examples, steps, features]
        return tags

    @staticmethod
    def _series(X):
        return X[..., None] if X.ndim == 2 else X

    def _fit(self, X, y, stratify):
        from zoo.api import train

        self.example_shape_ = X.shape[1:]
        x = self._series(X)
        fit_rows, val_rows = train_test_split(np.arange(len(x)), test_size=self.validation_fraction,
                                              stratify=stratify, random_state=self.seed)
        base = Path(self.run_dir) if self.run_dir is not None else Path(tempfile.mkdtemp(prefix="rnn-zoo-"))
        data = base.with_name(base.name + "-data")
        data.mkdir(parents=True, exist_ok=True)
        # The validation rows are the run's test split too: score() on your own held-out data is the test.
        for split, rows in (("train", fit_rows), ("validation", val_rows), ("test", val_rows)):
            np.savez(data / f"{split}.npz", x=x[rows], y=y[rows])
        settings = {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}
        quiet = contextlib.redirect_stdout(io.StringIO()) if not self.verbose else contextlib.nullcontext()
        with quiet:
            run = train("many_to_one", data=str(data), dataset="estimator", run_dir=base,
                        verbose=self.verbose, **settings)
        self.run_dir_ = run.run_dir
        self.model_ = run.model()
        return self

    def _outputs(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, allow_nd=True, dtype="float32")
        if X.shape[1:] != self.example_shape_:
            raise ValueError(f"X has examples of shape {X.shape[1:]}; this estimator was fitted on "
                             f"{self.example_shape_}.")
        return self.model_.predict(self._series(X), verbose=0)


class RecurrentClassifier(ClassifierMixin, _RecurrentEstimator):
    """A recurrent series classifier (many_to_one): `fit(X, y)`, `predict`, `predict_proba`, `score`.

    The settings (`cell`, `layers`, `units`, `bidirectional`, `dropout`, `epochs`, `batch_size`,
    `learning_rate`, `patience`, `ensemble`, `seed`) are the run's, as `zoo.config.TrainConfig`
    describes them; None: the task's default.

    Args:
        validation_fraction: the share of X held out (stratified) to stop training early.
        run_dir: where the run is written (a temporary folder by default); `run_dir_` after fit.
        verbose: Keras' fit verbosity, and the run's own lines when not 0.
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, allow_nd=True, dtype="float32", ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"Classifier can't train when only one class is present: {self.classes_}.")
        return self._fit(X, codes.astype("int64"), stratify=codes if np.bincount(codes).min() >= 2 else None)

    def predict_proba(self, X):
        return self._outputs(X)

    def predict(self, X):
        probabilities = self.predict_proba(X)  # first: unfitted, it raises NotFittedError
        return self.classes_[np.argmax(probabilities, axis=-1)]


class RecurrentRegressor(RegressorMixin, _RecurrentEstimator):
    """A recurrent series regressor (many_to_one): `fit(X, y)` with y one value (or a row of values)
    per example, `predict`, `score` (R²). Arguments as RecurrentClassifier's."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y, allow_nd=True, dtype="float32", multi_output=True,
                             y_numeric=True, ensure_min_samples=2)
        self._single_output = y.ndim == 1
        return self._fit(X, np.asarray(y, dtype="float32"), stratify=None)

    def predict(self, X):
        outputs = self._outputs(X)
        return outputs[:, 0] if self._single_output else outputs
