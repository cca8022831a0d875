"""Report plots hold the right curves and labels; reports read what the run directory holds."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from matplotlib.image import imread

from visionblocks import cli
from visionblocks.config import config_from_dict
from visionblocks.errors import ConfigError
from visionblocks.report import compare_runs, make_report, read_run
from visionblocks.report.build import PLOTS, summary_rows
from visionblocks.report.images import (
    confusion_counts,
    plot_confusion,
    plot_first_layer,
    plot_misclassified,
    plot_per_class_accuracy,
    tile_images,
)
from visionblocks.report.plots import (
    plot_accuracy,
    plot_loss,
    plot_lr,
    plot_update_ratio,
    smooth,
)
from visionblocks.report.rundata import load_predictions
from visionblocks.runs import train_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real two-epoch digits run, trained once for the module."""
    out = tmp_path_factory.mktemp("runs") / "digits-run"
    cfg = {"data": "digits", "hidden_dims": [32], "epochs": 2, "print_every": 0, "out": str(out)}
    train_run(config_from_dict(cfg))
    return out


@pytest.fixture(scope="module")
def reported(trained):
    """The trained run with its report, written once for the module."""
    return trained, make_report(trained, dpi=50)


@pytest.fixture
def run(reported, tmp_path):
    """A private copy of the reported run, free to damage."""
    return shutil.copytree(reported[0], tmp_path / "digits-run")


def labels(ax):
    return [line.get_label() for line in ax.get_lines()]


# ------------------------------------------------------------------- curve figures
def test_smooth_is_a_debiased_moving_average():
    np.testing.assert_allclose(smooth(np.full(50, 3.0), 0.9), 3.0)  # no pull towards 0
    x = np.array([1.0, 2.0, 4.0])
    np.testing.assert_array_equal(smooth(x, 0.0), x)
    w = 0.5
    want = [1.0, (0.25 * 1 + 0.5 * 2) / 0.75, (0.125 * 1 + 0.25 * 2 + 0.5 * 4) / 0.875]
    np.testing.assert_allclose(smooth(x, w), want)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        smooth(x, 1.0)


def test_loss_plot_has_raw_and_smoothed_curves():
    loss = np.linspace(2.3, 0.5, 40) + 0.1 * np.sin(np.arange(40))
    ax = plot_loss(loss, weight=0.8).axes[0]
    assert labels(ax) == ["loss per iteration", "smoothed (EMA 0.80)"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), loss)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), smooth(loss, 0.8))
    assert ax.get_xlabel() == "iteration" and ax.get_title() == "Training loss"
    per_epoch = plot_loss([1.0, 0.6, 0.4], per="epoch").axes[0]
    assert labels(per_epoch) == ["loss per epoch"] and per_epoch.get_xlabel() == "epoch"


def test_accuracy_plot_has_train_and_val_and_marks_the_best_epoch():
    ax = plot_accuracy([0.5, 0.7, 0.9], [0.45, 0.72, 0.7]).axes[0]
    assert labels(ax) == ["train", "val"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0.45, 0.72, 0.7])
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    assert [t.get_text() for t in ax.texts] == ["best val 0.7200 (epoch 2)"]
    assert labels(plot_accuracy(val_acc=[0.3]).axes[0]) == ["val"]


def test_lr_and_update_ratio_plots():
    ax = plot_lr([1e-3, 5e-4, 2.5e-4]).axes[0]
    assert labels(ax) == ["learning rate"] and ax.get_yscale() == "log"
    history = [{"W1": 2e-3, "W2": 1e-3, "W10": 5e-4}, {"W1": 1e-3, "W2": 8e-4, "W10": 0.0}]
    ax = plot_update_ratio(history).axes[0]
    assert labels(ax) == ["W1", "W2", "W10", "1e-3 rule of thumb"]  # numeric layer order
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[3].get_ydata(), [1e-3, 1e-3])
    assert np.isnan(ax.get_lines()[2].get_ydata()[1])  # a zero ratio is a gap on a log axis


# ------------------------------------------------------------ prediction figures
def test_confusion_counts_match_scikit_learn(rng):
    from sklearn.metrics import confusion_matrix

    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    np.testing.assert_array_equal(
        confusion_counts(y, p, 4), confusion_matrix(y, p, labels=range(4))
    )


def test_confusion_counts_keep_absent_classes_and_refuse_labels_out_of_range():
    np.testing.assert_array_equal(
        confusion_counts([0, 0, 2], [0, 1, 2], 4),
        [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]],
    )
    assert confusion_counts([], [], 3).shape == (3, 3)
    with pytest.raises(ValueError, match=r"y_pred must lie in \[0, 3\)"):
        confusion_counts([0, 1], [0, 3], 3)


def test_confusion_and_per_class_plots_show_normalised_values_and_names():
    cm = np.array([[8, 2, 0], [0, 5, 5], [0, 0, 0]])
    names = ["cat", "dog", "eel"]
    ax = plot_confusion(cm, names).axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.8, 0.2, 0], [0, 0.5, 0.5], [0, 0, 0]])
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert sorted(t.get_text() for t in ax.texts) == ["0.20", "0.50", "0.50", "0.80"]
    ax = plot_per_class_accuracy(cm, names).axes[0]
    np.testing.assert_allclose([b.get_width() for b in ax.patches], [0.8, 0.5, 0.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert labels(ax) == ["overall 0.6500"]


def test_tile_images_places_each_image_scaled_to_its_range():
    imgs = np.stack([np.full((1, 2, 2), v) for v in (0.0, 1.0, 2.0)])  # (3, 1, 2, 2)
    imgs[1, 0, 0, 0] = -1.0
    grid = tile_images(imgs, ncols=2, pad=1)
    assert grid.shape == (5, 5, 1)
    np.testing.assert_array_equal(grid[:2, 3:, 0], [[0.0, 1.0], [1.0, 1.0]])
    assert np.all(grid[2, :, 0] == 1.0)  # the white gap


def test_first_layer_grid_of_affine_units_and_conv_filters(rng):
    fig = plot_first_layer(rng.standard_normal((64, 30)), (1, 8, 8))
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (5 * 9 - 1, 6 * 9 - 1)  # 30 tiles, 6 per row
    assert ax.get_title() == "First layer: 30 of 30 units (64, 30)"
    ax = plot_first_layer(rng.standard_normal((200, 3, 5, 5)), (3, 32, 32), max_units=16).axes[0]
    assert ax.images[0].get_array().shape == (4 * 6 - 1, 4 * 6 - 1, 3)
    assert ax.get_title() == "First layer: 16 of 200 filters (200, 3, 5, 5)"
    with pytest.raises(ValueError, match="do not map inputs"):
        plot_first_layer(rng.standard_normal((10, 4)), (1, 8, 8))


def test_misclassified_grid_titles_true_and_predicted_labels(rng):
    images = rng.random((10, 1, 8, 8))
    y = np.arange(10) % 3
    pred = y.copy()
    pred[[1, 4, 8]] = (y[[1, 4, 8]] + 1) % 3
    names = ["a", "b", "c"]
    ax = plot_misclassified(images, y, pred, names, ncols=2).axes[0]
    assert [t.get_text() for t in ax.texts] == [
        f"true: {names[y[i]]}\npred: {names[pred[i]]}" for i in (1, 4, 8)
    ]
    grid = ax.images[0].get_array()
    for text, i in zip(ax.texts, (1, 4, 8)):  # each label sits just above its image
        x, y0 = text.get_position()
        x0, y0 = int(x + 0.5 - 4), int(y0 + 0.5)
        np.testing.assert_allclose(grid[y0 : y0 + 8, x0 : x0 + 8], images[i, 0])
    with pytest.raises(ValueError, match="no misclassified"):
        plot_misclassified(images, y, y, names)


# --------------------------------------------------------------- whole reports
def test_report_reads_the_run_directory_and_writes_every_plot(reported):
    run, report = reported
    assert report.skipped == {} and list(report.plots) == list(PLOTS)
    for key, path in report.plots.items():
        assert path == run / "plots" / f"{key}.png"
        assert imread(path).shape[0] > 50
    history = json.loads((run / "last.json").read_text())["history"]
    rec = read_run(run)
    np.testing.assert_allclose(rec.loss, history["loss"])
    np.testing.assert_allclose(rec.val_acc, history["val_acc"])
    assert rec.update_ratio == history["update_ratio"] and rec.loss_per == "iteration"
    page = report.html_path.read_text()
    assert page.count('<img src="data:image/png;base64,') == len(PLOTS)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    summary = json.loads((run / "summary.json").read_text())
    assert f"{summary['test_accuracy']:.4f}" in page
    # The report's own evaluation of the best checkpoint agrees with the run's summary.
    assert page.count(f"{summary['test_accuracy']:.4f}") >= 2


def test_missing_records_skip_their_plots_and_the_page_says_so(run):
    assert len(list((run / "plots").iterdir())) == len(PLOTS)
    (run / "last.json").unlink()
    rec = read_run(run)
    assert rec.loss_per == "epoch" and len(rec.loss) == 2  # from metrics.jsonl
    assert "last.json is missing" in rec.notes
    (run / "metrics.jsonl").unlink()
    report = make_report(run, evaluate=False, dpi=40)
    assert set(report.skipped) == {
        "loss",
        "accuracy",
        "lr",
        "update_ratio",
        "confusion",
        "per_class",
        "misclassified",
    }
    assert list(report.plots) == ["first_layer"]  # from the best checkpoint alone
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["first_layer.png"]
    page = report.html_path.read_text()
    assert page.count("Not shown:") == 7 and "metrics.jsonl is missing" in page


def test_a_no_test_run_is_reported_on_validation(tmp_path):
    out = tmp_path / "tuning"
    cfg = {"data": "digits", "hidden_dims": [16], "epochs": 1, "print_every": 0, "out": str(out)}
    train_run(config_from_dict({**cfg, "test": False}))
    preds = load_predictions(out)
    assert preds.split == "val" and len(preds.y_true) == 300
    assert preds.images.min() >= 0 and preds.images.max() <= 1 and preds.input_shape == (1, 8, 8)
    rows = dict(summary_rows(read_run(out), preds))
    assert rows["test accuracy"] is None and "best checkpoint accuracy on val (300)" in rows


def test_not_a_run_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_run(tmp_path / "nope")
    with pytest.raises(ConfigError, match="not a run directory"):
        read_run(tmp_path)


def test_compare_table_and_overlaid_curves(run, trained, tmp_path):
    table, png = compare_runs([trained, run], tmp_path / "cmp.png")
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["run", "data", "model"] and len(lines) == 4
    assert "runs" in lines[2] or "digits-run" in lines[2]  # names made unique by their parent
    assert imread(png).shape[1] > 600
    from visionblocks.report.compare import plot_compare, run_labels

    runs = [read_run(trained), read_run(run)]
    fig = plot_compare(runs, run_labels(runs))
    assert [ax.get_title() for ax in fig.axes] == [
        "Training loss (smoothed)",
        "Train accuracy",
        "Validation accuracy",
    ]
    for ax in fig.axes:
        assert labels(ax) == run_labels(runs)


def test_report_and_compare_commands(run, tmp_path, capsys):
    assert cli.main(["report", str(run), "--no-eval"]) == 0
    out = capsys.readouterr().out
    assert "skipped confusion" in out and f"report: {run / 'report.html'}" in out
    assert cli.main(["compare", str(run), str(run), "--out", str(tmp_path / "c.png")]) == 0
    assert "best val acc" in capsys.readouterr().out and (tmp_path / "c.png").is_file()
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_report_flag_writes_the_report_at_the_end(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["train", "--data", "digits", "--hidden-dims", "16", "--epochs", "1"]
    assert cli.main([*argv, "--print-every", "0", "--out", str(out), "--report"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("test accuracy: ")
    assert f"report: {out / 'report.html'}" in printed
    assert len(list((out / "plots").glob("*.png"))) == len(PLOTS)
