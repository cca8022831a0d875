"""Label-based classification metrics against scikit-learn on random data, plus edge cases."""

import warnings

import numpy as np
import pytest

import visionblocks.metrics as vm
from visionblocks.errors import ShapeError
from visionblocks.metrics import UndefinedMetricWarning

skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-6


def quiet(fn, *args, **kwargs):
    """Calls fn with warnings silenced (both libraries warn on zero division)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def random_case(seed):
    """Random multiclass labels; y_pred lacks some classes and has one y_true lacks."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    y_true = rng.integers(0, 5, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(1, 6, n))
    w = rng.random(n) if seed % 2 else None
    return y_true, y_pred, w


def assert_close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", range(4))
def test_confusion_matrix_and_accuracy_match_sklearn(seed):
    y_true, y_pred, w = random_case(seed)
    for normalize in (None, "true", "pred", "all"):
        ours = vm.confusion_matrix(y_true, y_pred, sample_weight=w, normalize=normalize)
        assert_close(
            ours, skm.confusion_matrix(y_true, y_pred, sample_weight=w, normalize=normalize)
        )
    labels = [4, 0, 2, 9]  # user order, one class seen nowhere, others dropped
    ours = vm.confusion_matrix(y_true, y_pred, labels=labels, sample_weight=w)
    assert_close(ours, skm.confusion_matrix(y_true, y_pred, labels=labels, sample_weight=w))
    for normalize in (True, False):
        assert vm.accuracy_score(y_true, y_pred, normalize=normalize, sample_weight=w) == (
            pytest.approx(skm.accuracy_score(y_true, y_pred, normalize=normalize, sample_weight=w))
        )


def test_confusion_matrix_dtypes_strings_and_errors():
    cm = vm.confusion_matrix(["cat", "dog", "cat"], ["dog", "dog", "cat"])
    assert cm.dtype == np.int64 and cm.tolist() == [[1, 1], [0, 1]]
    assert vm.confusion_matrix([], [], labels=[0, 1]).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match="at least one of labels"):
        vm.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(ShapeError, match="same length"):
        vm.confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="continuous"):
        vm.confusion_matrix([0.5, 1.0], [0, 1])
    with pytest.raises(TypeError, match="mix string and number"):
        vm.confusion_matrix(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="repeat"):
        vm.confusion_matrix([0, 1], [0, 1], labels=[0, 0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_precision_recall_f1_match_sklearn(seed, average):
    y_true, y_pred, w = random_case(seed)
    for zero_division in ("warn", 0.0, 1.0, np.nan):
        kw = dict(average=average, sample_weight=w, zero_division=zero_division)
        for ours, ref in [
            (vm.precision_score, skm.precision_score),
            (vm.recall_score, skm.recall_score),
            (vm.f1_score, skm.f1_score),
        ]:
            assert_close(quiet(ours, y_true, y_pred, **kw), quiet(ref, y_true, y_pred, **kw))
        kw_beta = dict(kw, beta=0.5, labels=[3, 0, 7])
        assert_close(
            quiet(vm.fbeta_score, y_true, y_pred, **kw_beta),
            quiet(skm.fbeta_score, y_true, y_pred, **kw_beta),
        )
    ours = quiet(vm.precision_recall_fscore_support, y_true, y_pred, average=average)
    ref = quiet(skm.precision_recall_fscore_support, y_true, y_pred, average=average)
    for a, b in zip(ours, ref):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b)


@pytest.mark.parametrize("seed", range(4))
def test_binary_average_and_pos_label_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(["neg", "pos"], 30)
    y_pred = rng.choice(["neg", "pos"], 30)
    for pos_label in ("neg", "pos"):
        for fn in ("precision_score", "recall_score", "f1_score"):
            ours = getattr(vm, fn)(y_true, y_pred, pos_label=pos_label)
            assert ours == pytest.approx(getattr(skm, fn)(y_true, y_pred, pos_label=pos_label))
        # specificity of one class is the recall of the other one
        other = "neg" if pos_label == "pos" else "pos"
        spec = vm.specificity_score(y_true, y_pred, pos_label=pos_label)
        assert spec == pytest.approx(skm.recall_score(y_true, y_pred, pos_label=other))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_specificity_matches_one_vs_rest_confusion(seed, average):
    y_true, y_pred, w = random_case(seed)
    labels = np.union1d(y_true, y_pred)
    mcm = skm.multilabel_confusion_matrix(y_true, y_pred, sample_weight=w, labels=labels)
    tn, fp = mcm[:, 0, 0].astype(float), mcm[:, 0, 1].astype(float)
    support = mcm[:, 1, 0] + mcm[:, 1, 1]
    per_class = tn / (tn + fp)
    expected = {
        None: per_class,
        "micro": tn.sum() / (tn.sum() + fp.sum()),
        "macro": per_class.mean(),
        "weighted": np.average(per_class, weights=support),
    }[average]
    assert_close(vm.specificity_score(y_true, y_pred, average=average, sample_weight=w), expected)


def test_zero_division_edge_cases_warn_like_sklearn():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])  # class 1 never predicted
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined"):
        p = vm.precision_score(y_true, y_pred)
    assert p == 0.0
    assert vm.precision_score(y_true, y_pred, zero_division=1) == 1.0
    assert np.isnan(vm.precision_score(y_true, y_pred, zero_division=np.nan))
    # a label absent from both y_true and y_pred: F-score is 0/0
    with pytest.warns(UndefinedMetricWarning, match="F-score"):
        f = vm.f1_score(y_true, y_pred, labels=[0, 1, 2], average=None)
    assert_close(f, skm.f1_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0))
    # NaN entries are skipped by the averages
    macro = vm.precision_score(y_true, y_pred, average="macro", zero_division=np.nan)
    assert macro == pytest.approx(0.5)
    # a class that is every sample has no negatives: specificity is 0/0
    with pytest.warns(UndefinedMetricWarning, match="Specificity"):
        assert vm.specificity_score([1, 1], [1, 1]) == 0.0


def test_average_argument_errors():
    with pytest.raises(ValueError, match="multiclass"):
        vm.f1_score([0, 1, 2], [0, 1, 2])  # default average="binary"
    with pytest.raises(ValueError, match="pos_label=2"):
        vm.f1_score([0, 1], [0, 1], pos_label=2)
    with pytest.raises(ValueError, match="average must be one of"):
        vm.f1_score([0, 1], [0, 1], average="samples")
    with pytest.warns(UserWarning, match="pos_label"):
        vm.f1_score([0, 1, 2], [0, 1, 2], average="macro", pos_label=2)
    with pytest.raises(ValueError, match="empty"):
        vm.accuracy_score([], [])


@pytest.mark.parametrize("seed", range(5))
def test_top_k_accuracy_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n, c = 40, 5
    y_true = np.r_[np.arange(c), rng.integers(0, c, n - c)]
    scores = rng.integers(0, 4, (n, c)).astype(float)  # many ties between classes
    w = rng.random(n) if seed % 2 else None
    for k in (1, 2, 3):
        for normalize in (True, False):
            kw = dict(k=k, normalize=normalize, sample_weight=w)
            ours = vm.top_k_accuracy_score(y_true, scores, **kw)
            assert ours == pytest.approx(skm.top_k_accuracy_score(y_true, scores, **kw), abs=TOL)
    labels = np.arange(c + 2)  # labels name classes absent from y_true
    wide = np.c_[scores, rng.random((n, 2))]
    ours = vm.top_k_accuracy_score(y_true, wide, k=2, labels=labels)
    assert ours == pytest.approx(skm.top_k_accuracy_score(y_true, wide, k=2, labels=labels))


def test_top_k_binary_and_errors():
    y_true = np.array([0, 1, 1, 0])
    for scores in ([0.2, 0.7, 0.4, 0.9], [-1.0, 2.0, 0.5, -0.1]):
        for k in (1, 2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = skm.top_k_accuracy_score(y_true, scores, k=k)
                assert vm.top_k_accuracy_score(y_true, scores, k=k) == pytest.approx(ref)
    with pytest.raises(ValueError, match="pass labels"):
        vm.top_k_accuracy_score([0, 1, 1], np.ones((3, 3)) / 3)
    with pytest.raises(ShapeError, match="rows"):
        vm.top_k_accuracy_score([0, 1, 2], np.ones((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        vm.top_k_accuracy_score([0, 1, 2], np.full((3, 3), np.nan))
    with pytest.warns(UndefinedMetricWarning, match="perfect"):
        assert vm.top_k_accuracy_score([0, 1, 2], np.eye(3), k=3) == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_classification_report_matches_sklearn(seed):
    y_true, y_pred, w = random_case(seed)
    for kw in (
        dict(),
        dict(digits=4, sample_weight=w),
        dict(labels=[0, 3, 8], target_names=["zero", "three", "a-long-class-name"]),
    ):
        kw["zero_division"] = 0
        assert vm.classification_report(y_true, y_pred, **kw) == skm.classification_report(
            y_true, y_pred, **kw
        )
        ours = vm.classification_report(y_true, y_pred, output_dict=True, **kw)
        ref = skm.classification_report(y_true, y_pred, output_dict=True, **kw)
        assert ours.keys() == ref.keys()
        for key in ref:
            assert_close(
                list(ours[key].values()) if isinstance(ours[key], dict) else ours[key],
                list(ref[key].values()) if isinstance(ref[key], dict) else ref[key],
            )
    with pytest.raises(ValueError, match="target_names"):
        vm.classification_report([0, 1], [0, 1], target_names=["a"])
