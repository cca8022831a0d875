"""Feature embeddings: PCA against scikit-learn, neighbours against brute force, the CLI."""

import numpy as np
import pytest

from visionblocks.analysis.embedding import model_features, nearest_neighbors, pca, tsne
from visionblocks.cli import main
from visionblocks.errors import ConfigError


def test_pca_matches_sklearn_up_to_sign(rng):
    from sklearn.decomposition import PCA

    X = rng.standard_normal((100, 6)) @ rng.standard_normal((6, 6))
    Z, comps, ratio = pca(X, 3)
    ref = PCA(3).fit(X)
    np.testing.assert_allclose(np.abs(comps), np.abs(ref.components_), atol=1e-8)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(Z), np.abs(ref.transform(X)), atol=1e-8)
    assert np.all(np.diff(Z.var(axis=0)) <= 0)


def test_pca_rejects_too_many_components(rng):
    with pytest.raises(ConfigError, match="n_components"):
        pca(rng.standard_normal((5, 3)), 4)


def test_nearest_neighbors_match_brute_force(rng):
    base, queries = rng.standard_normal((50, 4)), rng.standard_normal((7, 4))
    got = nearest_neighbors(queries, base, k=5)
    for q, row in zip(queries, got):
        d = np.linalg.norm(base - q, axis=1)
        np.testing.assert_array_equal(row, np.argsort(d, kind="stable")[:5])
    self_nn = nearest_neighbors(base[:3], base, k=2, exclude_self=True)
    assert not np.any(self_nn == np.arange(3)[:, None])
    with pytest.raises(ConfigError, match="neighbours asked of only"):
        nearest_neighbors(queries, base[:3], k=4)


def test_tsne_separates_two_far_clusters(rng):
    X = np.concatenate([rng.standard_normal((40, 10)), rng.standard_normal((40, 10)) + 20])
    Z = tsne(X, perplexity=10, seed=0)
    assert Z.shape == (80, 2)
    a, b = Z[:40].mean(0), Z[40:].mean(0)
    spread = max(Z[:40].std(0).max(), Z[40:].std(0).max())
    assert np.linalg.norm(a - b) > 3 * spread


def test_model_features_need_a_features_method(rng):
    with pytest.raises(ConfigError, match="has no features"):
        model_features(object(), rng.standard_normal((2, 3)))


def test_embed_command_writes_plots_with_one_series_per_class(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--hidden-dims", "32,16", "--epochs", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    assert main(["embed", str(out), "--num", "300", "--queries", "3", "--neighbors", "4"]) == 0
    printed = capsys.readouterr().out
    png = out / "embed_pca_features.png"
    assert f"wrote {png}" in printed and (out / "neighbors.png").stat().st_size > 5000
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[2] in (3, 4)


def test_plot_embedding_draws_one_scatter_per_present_class(tmp_path, rng, monkeypatch):
    import matplotlib.pyplot as plt

    from visionblocks.analysis import embed_cli

    captured = {}
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: captured.setdefault("fig", fig))
    labels = np.repeat(np.arange(3), 10)
    embed_cli.plot_embedding(
        tmp_path / "e.png", rng.standard_normal((30, 2)), labels, rng.random((30, 1, 8, 8)),
        ["a", "b", "c", "d"], "t", num_thumbnails=5,
    )  # fmt: skip
    ax = captured["fig"].axes[0]
    assert len(ax.collections) == 3 and len(ax.artists) == 5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    real_close(captured["fig"])


def test_embed_tsne_reports_progress(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--hidden-dims", "16", "--epochs", "1",
                 "--out", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["embed", str(out), "--method", "tsne", "--num", "200", "--queries", "0"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "t-SNE of 200 points" in printed and "[t-SNE] Iteration 50:" in printed
    assert "t-SNE done in" in printed and "wrote" in printed
