"""ROC and precision-recall curves, ROC-AUC and average precision against scikit-learn."""

import warnings

import numpy as np
import pytest

import visionblocks.metrics as vm
from visionblocks.metrics import UndefinedMetricWarning

skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-6


def assert_close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=TOL, rtol=0)


def binary_case(seed):
    """Random binary labels with tied scores (rounded) and optional weights."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 80))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = np.round(y * 0.3 + rng.random(n), 1)  # ties across both classes
    w = rng.random(n) * (rng.random(n) > 0.1) if seed % 2 else None  # some zero weights
    return y, score, w


@pytest.mark.parametrize("seed", range(8))
def test_curves_match_sklearn(seed):
    y, score, w = binary_case(seed)
    for drop in (True, False):
        for a, b in zip(
            vm.roc_curve(y, score, sample_weight=w, drop_intermediate=drop),
            skm.roc_curve(y, score, sample_weight=w, drop_intermediate=drop),
        ):
            assert_close(a, b)
        for a, b in zip(
            vm.precision_recall_curve(y, score, sample_weight=w, drop_intermediate=drop),
            skm.precision_recall_curve(y, score, sample_weight=w, drop_intermediate=drop),
        ):
            assert_close(a, b)


@pytest.mark.parametrize("seed", range(8))
def test_binary_auc_and_ap_match_sklearn(seed):
    y, score, w = binary_case(seed)
    assert vm.roc_auc_score(y, score, sample_weight=w) == pytest.approx(
        skm.roc_auc_score(y, score, sample_weight=w), abs=TOL
    )
    for max_fpr in (0.1, 0.5):
        assert vm.roc_auc_score(y, score, max_fpr=max_fpr) == pytest.approx(
            skm.roc_auc_score(y, score, max_fpr=max_fpr), abs=TOL
        )
    assert vm.average_precision_score(y, score, sample_weight=w) == pytest.approx(
        skm.average_precision_score(y, score, sample_weight=w), abs=TOL
    )
    labels = np.where(y == 1, "yes", "no")
    assert vm.average_precision_score(labels, score, pos_label="yes") == pytest.approx(
        skm.average_precision_score(labels, score, pos_label="yes"), abs=TOL
    )
    assert vm.roc_auc_score(labels, score) == pytest.approx(
        skm.roc_auc_score(labels, score), abs=TOL
    )
    for a, b in zip(
        vm.roc_curve(labels, score, pos_label="no"), skm.roc_curve(labels, score, pos_label="no")
    ):
        assert_close(a, b)


def multiclass_case(seed, c=4):
    rng = np.random.default_rng(seed)
    n = 60
    y = np.r_[np.arange(c), rng.integers(0, c, n - c)]
    logits = np.round(rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y], 1)
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True), (rng.random(n) if seed % 2 else None)


@pytest.mark.parametrize("seed", range(4))
def test_multiclass_auc_and_ap_match_sklearn(seed):
    y, prob, w = multiclass_case(seed)
    for average in (None, "micro", "macro", "weighted"):
        kw = dict(average=average, sample_weight=w)
        assert_close(
            vm.roc_auc_score(y, prob, multi_class="ovr", **kw),
            skm.roc_auc_score(y, prob, multi_class="ovr", **kw),
        )
        assert_close(
            vm.average_precision_score(y, prob, **kw), skm.average_precision_score(y, prob, **kw)
        )
    for average in ("macro", "weighted"):
        assert vm.roc_auc_score(y, prob, multi_class="ovo", average=average) == pytest.approx(
            skm.roc_auc_score(y, prob, multi_class="ovo", average=average), abs=TOL
        )
    names = np.array(["a", "b", "c", "d"])[y]
    assert vm.roc_auc_score(names, prob, multi_class="ovr") == pytest.approx(
        skm.roc_auc_score(names, prob, multi_class="ovr"), abs=TOL
    )


def test_no_positives_or_negatives_behave_as_documented():
    y0, score = np.zeros(4, int), np.array([0.1, 0.4, 0.35, 0.8])
    with pytest.warns(UndefinedMetricWarning, match="no positive"):
        fpr, tpr, _ = vm.roc_curve(y0, score)
    assert np.isnan(tpr).all() and fpr[-1] == 1.0
    with pytest.warns(UndefinedMetricWarning, match="one class"):
        assert np.isnan(vm.roc_auc_score(y0, score))
    with pytest.warns(UserWarning, match="recall is set to one"):
        precision, recall, _ = vm.precision_recall_curve(y0, score)
    assert (recall[:-1] == 1).all() and (precision[:-1] == 0).all()
    with pytest.warns(UserWarning):
        assert vm.average_precision_score(y0, score) == 0.0
    with pytest.warns(UndefinedMetricWarning, match="no negative"):
        fpr, _, _ = vm.roc_curve(np.ones(4, int), score)
    assert np.isnan(fpr).all()


def test_argument_errors():
    with pytest.raises(ValueError, match="pos_label must be given"):
        vm.roc_curve(np.array([1, 2, 2]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="finite"):
        vm.roc_curve([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="multi_class"):
        vm.roc_auc_score([0, 1, 2], np.eye(3))
    with pytest.raises(ValueError, match="sum to 1"):
        vm.roc_auc_score([0, 1, 2], np.ones((3, 3)), multi_class="ovr")
    with pytest.raises(ValueError, match="max_fpr"):
        vm.roc_auc_score([0, 1], [0.2, 0.4], max_fpr=1.5)
    with pytest.raises(ValueError, match="shape"):
        vm.average_precision_score([0, 1, 2], np.ones((3, 2)))
    with pytest.raises(ValueError, match="zero for every sample"):
        vm.roc_curve([0, 1], [0.1, 0.2], sample_weight=[0, 0])
    with pytest.raises(ValueError, match="zero for every sample"):
        vm.accuracy_score([0, 1], [0, 1], sample_weight=[0.0, 0.0])
    with pytest.raises(ValueError, match="monotonic"):
        vm.auc([0, 2, 1], [0, 1, 1])
    assert vm.auc([1, 0], [1, 1]) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vm.roc_auc_score([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5])  # all tied: AUC 0.5, no warning
