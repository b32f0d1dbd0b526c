"""zoo.RecurrentClassifier and zoo.RecurrentRegressor: scikit-learn estimators over many_to_one, checked
by scikit-learn's own estimator checks (those that apply to a model that trains for seconds), and
answering as their run's export does."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks as checks

import zoo

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

# scikit-learn's checks that apply here: parameters and cloning, the unfitted error, fit returning self,
# n_features_in_ and refusing input of another width. Those that fit run on the classifier alone (each
# fit is a whole zoo run, seconds), the regressor sharing the same base; scikit-learn's other checks
# (dtypes, sample orders, pickling, ...) each fit several more runs.
UNFITTED = ("check_no_attributes_set_in_init", "check_parameters_default_constructible",
            "check_get_params_invariance", "check_set_params", "check_estimators_unfitted")
FITTED = ("check_fit_check_is_fitted", "check_n_features_in_after_fitting")
CLASSIFIER, REGRESSOR = zoo.RecurrentClassifier(epochs=1, units=4), zoo.RecurrentRegressor(epochs=1, units=4)
CASES = [(e, c) for e in (CLASSIFIER, REGRESSOR) for c in UNFITTED] + [(CLASSIFIER, c) for c in FITTED] + [
    (REGRESSOR, "check_fit_score_takes_y")]


@pytest.mark.parametrize(("estimator", "check"), CASES, ids=[f"{type(e).__name__}-{c}" for e, c in CASES])
def test_scikit_learns_checks(estimator, check):
    getattr(checks, check)(type(estimator).__name__, clone(estimator))


def test_a_classifier_learns_series_of_any_labels_and_its_run_exports(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 24)).astype("float32")
    x[:40, :12] += 2.0
    y = np.array(["first half higher"] * 40 + ["second"] * 40)
    model = zoo.RecurrentClassifier(epochs=15, units=8, run_dir=tmp_path / "run").fit(x, y)
    assert list(model.classes_) == ["first half higher", "second"]
    assert model.score(x, y) > 0.9 and set(model.predict(x[:5])) <= set(model.classes_)
    np.testing.assert_allclose(model.predict_proba(x[:4]).sum(axis=1), 1.0, atol=1e-5)
    assert (tmp_path / "run-data" / "train.npz").is_file() and model.run_dir_ == tmp_path / "run"
    # The run is a zoo run: its export answers as the estimator does, label names included.
    answer = zoo.load(model.run_dir_).predict(x[:4, :, None])
    np.testing.assert_allclose(answer["label"], model.predict_proba(x[:4]), atol=1e-5)
    with pytest.raises(ValueError, match="X has 12 features, but RecurrentClassifier is expecting 24"):
        model.predict(x[:2, :12])
    with pytest.raises(ValueError, match="fitted on"):
        model.predict(np.stack([x[:2], x[:2]], axis=-1))
