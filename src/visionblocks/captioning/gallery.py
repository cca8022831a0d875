"""Captioned images on disk: ``captions-NAME.json`` (every caption with its references) and,
with matplotlib, ``captions-NAME.png`` (each image titled with its generated caption and its
first reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionblocks.captioning.solver import decode_split, references_by_image, score_captions
from visionblocks.captioning.vocab import caption_words
from visionblocks.checkpoint import atomic_write_json

__all__ = ["split_gallery", "write_gallery"]


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
