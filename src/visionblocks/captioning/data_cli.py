"""``visionblocks data make captions`` and ``visionblocks data download-coco``."""

from __future__ import annotations

from visionblocks.captioning.coco_download import COCO_REMOTE, download_coco
from visionblocks.captioning.synthetic import SPLITS, make_caption_dataset


def add_parsers(data_sub) -> None:
    """Adds ``make`` (with ``captions``) and ``download-coco`` under ``visionblocks data``."""
    m = data_sub.add_parser("make", help="generate one of the project's offline data sets")
    make_sub = m.add_subparsers(dest="make_command", required=True)
    c = make_sub.add_parser(
        "captions", help="shapes with grammar captions and a held-out combination split"
    )
    c.add_argument("--seed", type=int, default=0, help="everything follows from it")
    c.add_argument("--out", required=True, help="folder to write captions.npz into")
    c.add_argument("--n-train", type=int, default=4000)
    c.add_argument("--n-val", type=int, default=500)
    c.add_argument("--n-test", type=int, default=500)
    c.add_argument("--n-test-combo", type=int, default=500)
    c.add_argument("--image-size", type=int, default=32, help="canvas side in pixels (>= 24)")
    c.add_argument("--captions-per-image", type=int, default=5, help="references per image")
    c.set_defaults(func=_cmd_make_captions)

    d = data_sub.add_parser("download-coco", help="download COCO captions (checksummed ZIP)")
    d.add_argument("source", choices=sorted(COCO_REMOTE), help="course: the HDF5 folder of "
                   "CS231n; annotations: the official captions_*2014.json")  # fmt: skip
    d.add_argument("--dir", help="target folder (default ~/.cache/visionblocks/coco_captioning)")
    d.add_argument("--base-url", help="a mirror (or $VISIONBLOCKS_COCO_*_URL)")
    d.add_argument("--md5", help="the archive's MD5, which the download must match")
    d.add_argument(
        "--record-md5", action="store_true", help="no MD5 known: accept this download and "
        "check later ones against it"
    )  # fmt: skip
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_download_coco)


def _cmd_make_captions(args) -> int:
    ds = make_caption_dataset(
        seed=args.seed, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
        n_test_combo=args.n_test_combo, image_size=args.image_size,
        captions_per_image=args.captions_per_image,
    )  # fmt: skip
    path = ds.save(args.out)
    counts = ", ".join(f"{s} {len(ds.images[s])}" for s in SPLITS)
    held = ", ".join(f"{c} {s}" for c, s in ds.meta["held_out"])
    print(f"wrote {path}: {counts} images, {args.captions_per_image} captions each, "
          f"{len(ds.vocab)} words")  # fmt: skip
    print(f"held out of train/val/test, in every test_combo image: {held}")
    print(f"train on it with --data captions:{args.out}")
    return 0


def _cmd_download_coco(args) -> int:
    folder = download_coco(
        args.source, dest=args.dir, base_url=args.base_url, md5=args.md5,
        record_md5=args.record_md5, progress=False if args.no_progress else None,
    )  # fmt: skip
    print(f"COCO {args.source} files are in {folder}")
    return 0
