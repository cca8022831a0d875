"""``visionblocks embed RUN_DIR``: 2-D maps of a model's features and nearest-neighbour sheets."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visionblocks.analysis.embedding import model_features, nearest_neighbors, pca, tsne
from visionblocks.errors import ConfigError


def add_parser(sub):
    p = sub.add_parser(
        "embed", help="project a run's test images (features or pixels) to 2-D and plot them"
    )
    p.add_argument("run_dir")
    p.add_argument("--method", choices=["pca", "tsne"], default="pca")
    p.add_argument("--space", choices=["features", "pixels"], default="features")
    p.add_argument("--num", type=int, default=2000, help="test images embedded")
    p.add_argument("--queries", type=int, default=6, help="query images in the neighbour sheet")
    p.add_argument("--neighbors", type=int, default=6, help="neighbours shown per query")
    p.add_argument("--thumbnails", type=int, default=40, help="images drawn on the map")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_embed)


def _display(img):
    """(C, H, W) image -> (H, W) or (H, W, 3) in [0, 1] for imshow, min-max scaled."""
    img = img.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-12)
    return img[..., 0] if img.shape[2] == 1 else img


def plot_embedding(path, Z, labels, images, class_names, title, num_thumbnails=40, seed=0):
    """Scatter of Z (N, 2) coloured by class, with a few images drawn at their points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig, ax = plt.subplots(figsize=(9, 8))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c, name in enumerate(class_names):
        sel = labels == c
        if sel.any():
            ax.scatter(Z[sel, 0], Z[sel, 1], s=6, color=cmap(c % cmap.N), label=name, alpha=0.7)
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(Z), min(num_thumbnails, len(Z)), replace=False):
        box = OffsetImage(_display(images[i]), zoom=0.8, cmap="gray")
        ax.add_artist(AnnotationBbox(box, Z[i], frameon=True, pad=0.1, bboxprops={"lw": 0.5}))
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_neighbors(path, images, query_idx, neighbor_sets, set_titles):
    """One row per query: the query, then its neighbours in each space side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = neighbor_sets[0].shape[1]
    cols = 1 + len(neighbor_sets) * k
    fig, axes = plt.subplots(len(query_idx), cols, figsize=(cols * 0.9, len(query_idx) * 1.0))
    axes = np.atleast_2d(axes)
    for r, q in enumerate(query_idx):
        axes[r, 0].imshow(_display(images[q]), cmap="gray")
        for s, nbrs in enumerate(neighbor_sets):
            for j in range(k):
                axes[r, 1 + s * k + j].imshow(_display(images[nbrs[r, j]]), cmap="gray")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("query", fontsize=8)
    for s, title in enumerate(set_titles):
        axes[0, 1 + s * k].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_embed(args) -> int:
    from visionblocks.runs import load_best_model, load_run_data, read_run_config

    run_dir = Path(args.run_dir)
    cfg = read_run_config(run_dir)
    data = load_run_data(cfg)
    X, y = data["X_test"], data["y_test"]
    if not 0 < args.num:
        raise ConfigError(f"--num must be positive, got {args.num}")
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(y), min(args.num, len(y)), replace=False))
    X, y = X[idx], y[idx]
    pixels = X.reshape(len(X), -1).astype(np.float64)  # (N, C*H*W)
    if args.space == "features" or args.queries:
        if cfg.spec.numpy_class is None:
            raise ConfigError(f"model {cfg.model!r} has no learned features; use --space pixels")
        print(f"computing the best model's features of {len(y)} test images ...", flush=True)
        feats = model_features(load_best_model(run_dir, cfg, data), X).astype(np.float64)
    vectors = feats if args.space == "features" else pixels
    start = time.perf_counter()
    if args.method == "pca":
        Z = pca(vectors, 2)[0]
    else:  # tens of seconds for a few thousand points: show scikit-learn's progress
        print(f"t-SNE of {len(y)} points in {vectors.shape[1]} dimensions (PCA to 50 first); "
              "scikit-learn reports every 50 iterations:", flush=True)  # fmt: skip
        Z = tsne(vectors, seed=args.seed, verbose=2)
        print(f"t-SNE done in {time.perf_counter() - start:.1f} s", flush=True)
    what = "penultimate features" if args.space == "features" else "raw pixels"
    out = run_dir / f"embed_{args.method}_{args.space}.png"
    plot_embedding(
        out, Z, y, X, data["class_names"], f"{args.method.upper()} of {what}: "
        f"{len(y)} {cfg.data} test images ({cfg.model})", args.thumbnails, args.seed,
    )  # fmt: skip
    print(f"wrote {out}")
    if args.queries:
        queries = rng.choice(len(y), min(args.queries, len(y)), replace=False)
        sets = []
        for space in (feats, pixels):
            nbrs = nearest_neighbors(space[queries], space, args.neighbors + 1)
            rows = [[j for j in row if j != q][: args.neighbors] for row, q in zip(nbrs, queries)]
            sets.append(np.array(rows))
        nb_path = run_dir / "neighbors.png"
        plot_neighbors(nb_path, X, queries, sets, ["feature space", "pixel space"])
        print(f"wrote {nb_path}")
    return 0
