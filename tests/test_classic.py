"""Tests of kNN cross-validation, the lr/reg searches, the plots and the classic CLI runners."""

import json

import numpy as np
import pytest

from visionblocks.classic import Softmax, append_bias
from visionblocks.classic.plots import class_templates, plot_cross_validation, plot_templates
from visionblocks.classic.search import (
    best_k,
    cross_validate_knn,
    format_results,
    grid_search,
    random_search,
)
from visionblocks.cli import main
from visionblocks.errors import ConfigError


def _blobs(rng, n=240, c=3, d=6):
    centers = 2.5 * rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


def test_cross_validation_over_k(rng):
    X, y = _blobs(rng)
    cv = cross_validate_knn(X, y, [5, 1, 3, 3], num_folds=4, seed=0)
    assert list(cv) == [1, 3, 5]
    for r in cv.values():
        assert len(r["accuracies"]) == 4
        assert r["mean"] == pytest.approx(np.mean(r["accuracies"]))
        assert r["std"] == pytest.approx(np.std(r["accuracies"]))
        assert 0.5 < r["mean"] <= 1
    assert cv == cross_validate_knn(X, y, [1, 3, 5], num_folds=4, seed=0)
    fake = {1: {"mean": 0.8}, 3: {"mean": 0.9}, 5: {"mean": 0.9}}
    assert best_k(fake) == 3
    with pytest.raises(ValueError, match="exceeds"):
        cross_validate_knn(X, y, [200], num_folds=4)
    with pytest.raises(ValueError, match="num_folds"):
        cross_validate_knn(X, y, [1], num_folds=1)


def _splits(rng):
    X, y = _blobs(rng, n=300)
    Xb = append_bias(X)
    return Xb[:200], y[:200], Xb[200:], y[200:]


def test_grid_search_returns_table_and_best_model(rng):
    splits = _splits(rng)
    results, best = grid_search(
        lambda: Softmax(seed=0), *splits, [1e-3, 1e-1], [1e-4, 1e-1], num_iters=50, batch_size=50
    )
    assert [(r["learning_rate"], r["reg"]) for r in results] == [
        (1e-3, 1e-4), (1e-3, 1e-1), (1e-1, 1e-4), (1e-1, 1e-1)
    ]  # fmt: skip
    top = max(r["val_accuracy"] for r in results)
    assert np.mean(best.predict(splits[2]) == splits[3]) == top
    table = format_results(results)
    assert table.splitlines()[0].split()[:3] == ["round", "learning_rate", "reg"]
    assert len(table.splitlines()) == 5


def test_random_search_is_log_uniform_seeded_and_narrows(rng):
    splits = _splits(rng)
    kwargs = dict(trials=8, rounds=2, keep=2, seed=1, num_iters=30, batch_size=50)
    results, best = random_search(lambda: Softmax(seed=0), *splits, (1e-5, 1), (1e-6, 1), **kwargs)
    assert len(results) == 8 and [r["round"] for r in results] == [0] * 4 + [1] * 4
    assert all(1e-5 <= r["learning_rate"] <= 1 and 1e-6 <= r["reg"] <= 1 for r in results)
    first = sorted(results[:4], key=lambda r: -r["val_accuracy"])[:2]
    lo = min(np.log10(r["learning_rate"]) for r in first) - 0.5
    hi = max(np.log10(r["learning_rate"]) for r in first) + 0.5
    assert all(lo - 1e-9 <= np.log10(r["learning_rate"]) <= hi + 1e-9 for r in results[4:])
    again, _ = random_search(lambda: Softmax(seed=0), *splits, (1e-5, 1), (1e-6, 1), **kwargs)
    assert again == [dict(r, seconds=a["seconds"]) for r, a in zip(results, again)]
    assert best.W.shape == (7, 3)
    with pytest.raises(ConfigError, match="lr_range"):
        random_search(Softmax, *splits, (0, 1), (1e-3, 1), trials=2)


def test_plots_are_written(tmp_path, rng):
    pytest.importorskip("matplotlib")
    cv = {1: {"accuracies": [0.8, 0.9], "mean": 0.85, "std": 0.05},
          3: {"accuracies": [0.9, 0.9], "mean": 0.9, "std": 0.0}}  # fmt: skip
    assert plot_cross_validation(cv, tmp_path / "cv.png").stat().st_size > 1000
    W = rng.standard_normal((3 * 4 * 5 + 1, 2))
    t = class_templates(W, (3, 4, 5))
    assert t.shape == (2, 4, 5, 3) and t.min() == 0 and t.max() == 1
    np.testing.assert_allclose(t[1, 2, 3, 0], (W[0 * 20 + 2 * 5 + 3, 1] - W[:-1].min()) /
                               (W[:-1].max() - W[:-1].min()))  # fmt: skip
    assert plot_templates(W, (3, 4, 5), ["a", "b"], tmp_path / "t.png").stat().st_size > 1000


def _train(tmp_path, model, *extra):
    out = tmp_path / model
    args = ["train", "--data", "digits", "--model", model, "--out", str(out), *extra]
    return main(args), out


def test_cli_knn_cross_validates_and_evaluate_reproduces(tmp_path, capsys):
    cfg = tmp_path / "knn.toml"
    cfg.write_text("[arch]\nk_choices = [1, 3, 5]\nnum_folds = 3\n")
    code, out = _train(tmp_path, "knn", "--config", str(cfg))
    printed = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and printed[-1].startswith("test accuracy: 0.9")
    info = json.loads((out / "knn.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert info["k"] in (1, 3, 5) and summary["k"] == info["k"]
    assert info["fit_on"] == "train+val" and info["num_fit"] == summary["num_train"] + 300
    assert info["cv_num_train"] == summary["num_train"] and set(info["cv"]) == {"1", "3", "5"}
    assert (out / "knn_cv.png").exists()
    assert main(["evaluate", str(out)]) == 0
    assert capsys.readouterr().out.strip() == printed[-1]


@pytest.mark.parametrize("model, fit_on", [("svm", "train"), ("softmax", "train+val")])
def test_cli_linear_trains_saves_w_and_plots_templates(tmp_path, capsys, model, fit_on):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[arch]\nfit_on = "{fit_on}"\n')
    code, out = _train(tmp_path, model, "--lr", "0.05", "--reg", "1e-3", "--epochs", "3",
                       "--batch-size", "64", "--weight-scale", "1e-3",
                       "--config", str(cfg))  # fmt: skip
    printed = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and printed[-1].startswith("test accuracy: 0.")
    assert float(printed[-1].split()[-1]) > 0.8
    with np.load(out / "best.npz", allow_pickle=False) as z:
        assert z["W"].shape == (65, 10)
    assert (out / "templates.png").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "summary.json").read_text())["fit_on"] == fit_on
    assert main(["evaluate", str(out)]) == 0
    assert capsys.readouterr().out.strip() == printed[-1]


def test_cli_random_search_with_hog_features(tmp_path, capsys):
    code, out = _train(tmp_path, "softmax", "--features", "hog:4", "--search", "random",
                       "--trials", "3", "--epochs", "2", "--lr", "0.05")  # fmt: skip
    assert code == 0
    results = json.loads((out / "search.json").read_text())
    assert len(results) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"] == 3 and summary["best_val_accuracy"] == max(
        r["val_accuracy"] for r in results
    )
    assert not (out / "templates.png").exists()  # W acts on features, not pixels
    with np.load(out / "best.npz", allow_pickle=False) as z:
        assert z["W"].shape == (36 + 1, 10)  # one block of 2 x 2 cells x 9 bins on 8 x 8 digits
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0


def test_cli_twolayer_on_features(tmp_path, capsys):
    code, out = _train(tmp_path, "twolayer", "--features", "hog:4", "--hidden-dims", "16",
                       "--epochs", "1")  # fmt: skip
    assert code == 0
    with np.load(out / "best.npz", allow_pickle=False) as z:
        assert z["params/W1"].shape == (36, 16)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "knn", "--features", "color"], "RGB"),
        (["--model", "knn", "--features", "sift"], "unknown feature"),
        (
            ["--model", "svm", "--search", "bayes"],
            "option search: expected one of 'grid', 'random' or none, got 'bayes'",
        ),
        (["--model", "knn", "--config", "ARCH:k = 5000"], "k must be in"),
        (
            ["--model", "knn", "--config", "ARCH:colour = 1"],
            "unknown option(s) colour; model 'knn' on the numpy engine takes: ",
        ),
        (
            ["--model", "knn", "--config", "ARCH:hidden_dims = [3]"],
            "option 'hidden_dims' is not "
            "an option of model 'knn'; it is taken by: twolayer, fc, convnet",
        ),
        (
            ["--model", "knn", "--config", "ARCH:k = 3\nk_choices = [1, 3]"],
            "options k and k_choices: give k (a fixed k) or k_choices (cross-validated), not both",
        ),
        (
            ["--model", "knn", "--lr", "0.1"],
            "option 'lr' is not an option of model 'knn'; it "
            "is taken by: twolayer, fc, threelayer, convnet, resnet, svm, softmax",
        ),
        (
            ["--model", "svm", "--augment", "flip"],
            "option 'augment' is not an option of model "
            "'svm'; it is taken by: twolayer, fc, threelayer, convnet, resnet",
        ),
    ],
)
def test_cli_bad_options(tmp_path, capsys, args, message):
    if args[-2] == "--config":
        cfg = tmp_path / "c.toml"
        cfg.write_text("[arch]\n" + args[-1][len("ARCH:") :] + "\n")
        args = [*args[:-1], str(cfg)]
    base = ["train", "--data", "digits", "--out", str(tmp_path / "bad")]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()  # checked before the run directory is made
