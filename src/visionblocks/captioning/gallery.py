"""Captioned images on disk: ``captions-NAME.json`` (every caption with its references) and,
with matplotlib, ``captions-NAME.png`` (each image titled with its generated caption and its
first reference); for an attention captioner ``attention-NAME.png`` with the map behind each
generated word."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionblocks.captioning.solver import decode_split, references_by_image, score_captions
from visionblocks.captioning.vocab import caption_words
from visionblocks.checkpoint import atomic_write_json

__all__ = ["attention_gallery", "split_gallery", "write_gallery"]


def write_gallery(out, name: str, rows: list[dict], images=None) -> list[Path]:
    """Writes ``out/captions-NAME.json`` and, given (N, 3, S, S) uint8 ``images`` and
    matplotlib, ``out/captions-NAME.png``; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"captions-{name}.json"]
    atomic_write_json(written[0], rows)
    if images is None or not len(images):
        return written
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is optional
        return written
    cols = min(4, len(images))
    nrows = -(-len(images) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, row in zip(axes.flat, images, rows):
        title = row["caption"]
        if row.get("references"):
            title += f"\n(ref: {row['references'][0]})"
        ax.imshow(np.asarray(img).transpose(1, 2, 0), interpolation="nearest")
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    written.append(out / f"captions-{name}.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written


def split_gallery(model, data, split, num=16, decode="greedy", beam_size=3, max_length=30):
    """Captions every image of a split (free-running) and scores them.

    Returns:
        (scores, rows, images): BLEU-1..4 and ``exact`` over the whole split; for its first
        ``num`` images the rows (index, caption, references, url when known) and the (num, 3,
        S, S) images (None when the data holds no pixels).
    """
    words = data["idx_to_word"]
    refs = references_by_image(data[f"{split}_captions"], data[f"{split}_image_idxs"], words)
    ids = np.array(sorted(refs), dtype=np.int64)  # (M,) the images with captions
    sampled = decode_split(model, data[f"{split}_features"][ids], decode, beam_size, max_length)
    scores = score_captions(sampled, [refs[i] for i in ids.tolist()], words)
    show = ids[:num]
    rows = [{"index": int(i), "caption": " ".join(caption_words(c, words)),
             "references": [" ".join(r) for r in refs[int(i)]]}
            for i, c in zip(show.tolist(), sampled)]  # fmt: skip
    if f"{split}_urls" in data:
        for r in rows:
            r["url"] = str(data[f"{split}_urls"][r["index"]])
    images = data[f"{split}_images"][show] if f"{split}_images" in data else None
    return scores, rows, images


def attention_gallery(out, name, model, data, split, num=4, max_length=30) -> Path | None:
    """Writes ``out/attention-NAME.png`` for an attention captioner (a model whose ``sample``
    takes ``return_attention``): for each of a split's first ``num`` images, the image and,
    for every generated word, the attention map it was produced with over the image.

    Returns:
        the path, or None (no pixels in the data, not an attention model, or no matplotlib).
    """
    if f"{split}_images" not in data or not hasattr(model, "feature_shape"):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is optional
        return None
    words = data["idx_to_word"]
    ids = np.array(sorted(set(data[f"{split}_image_idxs"].tolist())), dtype=np.int64)[:num]
    captions, alphas = model.sample(data[f"{split}_features"][ids], max_length=max_length,
                                    return_attention=True)  # fmt: skip
    images = data[f"{split}_images"][ids]  # (n, 3, S, S)
    lengths = [min(len(caption_words(c, words)) + 1, len(c)) for c in captions]  # and <END>
    cols = 1 + max(lengths)
    fig, axes = plt.subplots(len(ids), cols, figsize=(1.6 * cols, 1.8 * len(ids)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, (img, cap, alpha) in enumerate(zip(images, captions, alphas)):
        rgb = img.transpose(1, 2, 0)  # (S, S, 3)
        axes[r, 0].imshow(rgb, interpolation="nearest")
        axes[r, 0].set_title("image", fontsize=7)
        cell = rgb.shape[0] // alpha.shape[1]
        for t in range(lengths[r]):
            amap = np.kron(alpha[t], np.ones((cell, cell)))  # (S, S) upsampled weights
            axes[r, t + 1].imshow(rgb, interpolation="nearest")
            axes[r, t + 1].imshow(amap, cmap="gray", alpha=0.6, interpolation="nearest")
            axes[r, t + 1].set_title(words[cap[t]], fontsize=7)
    fig.tight_layout()
    path = Path(out) / f"attention-{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
