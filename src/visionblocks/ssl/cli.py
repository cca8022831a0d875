"""``visionblocks pretrain`` (self-supervised pretraining into a run directory) and
``visionblocks probe RUN`` (linear probe and few-label fine-tuning against the baselines).

torch is imported only when a command runs, so the command line works without it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visionblocks.errors import ConfigError

METHOD_CHOICES = ("simclr", "moco", "simsiam", "rotation", "jigsaw", "inpainting")
DATA_CHOICES = ("fashion-mnist", "digits", "mnist")
#: pretraining options recorded in config.json (the run is rebuilt from them by ``probe``)
RUN_KEYS = (
    "method", "data", "data_dir", "num_train", "num_val", "epochs", "batch_size", "lr",
    "weight_decay", "update_rule", "warmup_epochs", "tau", "queue_size", "momentum",
    "crop_scale_min", "blur_p", "noise_std", "widths", "knn_k", "knn_tau", "knn_bank",
    "knn_val", "seed", "device", "print_every", "out",
)  # fmt: skip


def add_parser(sub) -> None:
    """Adds the ``pretrain`` and ``probe`` commands."""
    p = sub.add_parser("pretrain", help="self-supervised pretraining (SimCLR, MoCo, SimSiam, "
                       "pretext tasks) into a run directory")  # fmt: skip
    p.add_argument("--method", choices=METHOD_CHOICES, default="simclr",
                   help="jigsaw is the relative-patch-position task (8-way)")  # fmt: skip
    p.add_argument("--data", choices=DATA_CHOICES, default="fashion-mnist")
    p.add_argument("--data-dir", help="folder to read the data set from")
    p.add_argument("--num-train", type=int, help="use this many training images (seeded)")
    p.add_argument("--num-val", type=int, help="validation images held out of the train set")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--update-rule", default="adamw", help="a torch engine optimizer name")
    p.add_argument("--warmup-epochs", type=float, default=0.0)
    p.add_argument("--tau", type=float, help="temperature (default 0.5 SimCLR, 0.2 MoCo)")
    p.add_argument("--queue-size", type=int, default=4096, help="MoCo's negatives K")
    p.add_argument("--momentum", type=float, default=0.99, help="MoCo's key momentum m")
    p.add_argument("--crop-scale-min", type=float, default=0.2, help="smallest crop area")
    p.add_argument("--blur-p", type=float, default=0.5, help="probability of a blur")
    p.add_argument("--noise-std", type=float, default=0.0, help="Gaussian noise added")
    p.add_argument("--widths", default="32,64,128", help="the encoder's conv widths")
    p.add_argument("--knn-k", type=int, default=200)
    p.add_argument("--knn-tau", type=float, default=0.07)
    p.add_argument("--knn-bank", type=int, default=5000, help="labelled images in the bank")
    p.add_argument("--knn-val", type=int, default=2000, help="validation images scored")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--print-every", type=int, default=0)
    p.add_argument("--out", help="run directory (default runs/ssl-METHOD-DATA)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_pretrain)

    q = sub.add_parser(
        "probe", help="linear probe and few-label fine-tuning of a pretrain run, beside a "
        "random-init encoder and supervised training from scratch",
    )  # fmt: skip
    q.add_argument("run_dir")
    q.add_argument("--labels", default="all", help="'1%%', '10%%', 'all' or a count")
    q.add_argument("--probe-iters", type=int, default=200, help="L-BFGS iterations")
    q.add_argument("--finetune-epochs", type=int, help="default: about 1500 steps of batch 64 "
                   "(10 to 200 epochs) for <= 6000 labels, else 0 (skipped)")  # fmt: skip
    q.add_argument("--finetune-lr", type=float, default=1e-3)
    q.add_argument("--seed", type=int, default=0, help="draws the labelled subset")
    q.add_argument("--no-baselines", dest="baselines", action="store_false",
                   help="skip the random-init encoder and training from scratch")  # fmt: skip
    q.add_argument("--test", action="store_true", help="also score the test split (report "
                   "it once, after the choices are made on validation)")  # fmt: skip
    q.add_argument("--tsne", type=int, default=0, help="t-SNE map of this many validation "
                   "images' features (0: none)")  # fmt: skip
    q.set_defaults(func=cmd_probe)


def _widths(text):
    try:
        widths = tuple(int(w) for w in str(text).split(","))
    except ValueError:
        raise ConfigError(f"--widths must be integers like 32,64,128, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise ConfigError(f"--widths must be positive integers, got {text!r}")
    return widths


def load_data(cfg):
    """The run's data dict, split as it was for pretraining."""
    from visionblocks.data.datasets import load_dataset

    return load_dataset(cfg["data"], data_dir=cfg.get("data_dir"), num_val=cfg.get("num_val"),
                        seed=cfg["seed"], num_train=cfg.get("num_train"))  # fmt: skip


def build_model(cfg, in_channels):
    from visionblocks.ssl.pretrain import build_method

    return build_method(cfg["method"], in_channels, _widths(cfg["widths"]), tau=cfg.get("tau"),
                        queue_size=cfg["queue_size"], momentum=cfg["momentum"],
                        seed=cfg["seed"])  # fmt: skip


def plot_knn_curve(run_dir):
    """``knn_monitor.png``: the kNN monitor and the loss per epoch, from metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from visionblocks.training import MetricsLog

    recs = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    if not recs:
        return None
    ep = [r["epoch"] for r in recs]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(ep, [r.get("knn_acc") for r in recs], marker="o")
    a.set(xlabel="epoch", ylabel="weighted kNN accuracy (val)", title="kNN monitor")
    b.plot(ep, [r["loss"] for r in recs], marker="o", color="C1")
    b.set(xlabel="epoch", ylabel="pretraining loss", title="loss")
    fig.tight_layout()
    path = Path(run_dir) / "knn_monitor.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cmd_pretrain(args) -> int:
    from visionblocks.ssl.pretrain import Pretrainer, default_augment
    from visionblocks.training import (
        check_resume_options,
        check_run_dir,
        open_run_dir,
        saved_config,
        write_summary,
    )

    cfg = {k: getattr(args, k) for k in RUN_KEYS}
    cfg["out"] = cfg["out"] or f"runs/ssl-{args.method}-{args.data}"
    _widths(cfg["widths"])
    run_dir = Path(cfg["out"])
    check_run_dir(run_dir, args.resume)  # before the data loads: a refusal costs nothing
    if args.resume:
        check_resume_options(saved_config(run_dir), cfg)
    data = load_data(cfg)
    run_dir = open_run_dir(run_dir, cfg, args.resume)
    model = build_model(cfg, data["X_train"].shape[1])
    augment = default_augment(args.method, args.crop_scale_min, args.blur_p, args.noise_std)
    start = time.perf_counter()
    loop = Pretrainer(
        model, data, method=args.method, augment=augment, epochs=args.epochs,
        batch_size=args.batch_size, update_rule=args.update_rule, lr=args.lr,
        weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, seed=args.seed,
        device=args.device, knn_k=args.knn_k, knn_tau=args.knn_tau, knn_bank=args.knn_bank,
        knn_val=args.knn_val, out_dir=run_dir, resume=args.resume, verbose=not args.quiet,
        print_every=args.print_every,
    )  # fmt: skip
    loop.train()
    knn = loop.history("knn_acc")
    write_summary(run_dir, {"method": args.method, "data": args.data, "epochs": loop.epoch,
                            "final_knn_acc": knn[-1] if knn else None,
                            "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
    curve = plot_knn_curve(run_dir)
    print(f"kNN monitor (weighted, cosine, k={args.knn_k}, tau={args.knn_tau}, "
          f"{loop.bank_y.size if loop.knn_ready else 0}-image bank, validation images): "
          f"{knn[-1] if knn else 'n/a'}")  # fmt: skip
    print(f"wrote {run_dir}" + (f" and {curve}" if curve else ""))
    return 0


def _tsne_plot(run_dir, encoder, data, num, seed):
    from visionblocks.analysis.embed_cli import plot_embedding
    from visionblocks.analysis.embedding import tsne
    from visionblocks.ssl.evaluate import encode

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(data["y_val"]), min(num, len(data["y_val"])), replace=False))
    X, y = data["X_val"][idx], data["y_val"][idx]
    Z = tsne(encode(encoder, X).numpy().astype(np.float64), seed=seed)
    path = Path(run_dir) / "tsne_features.png"
    plot_embedding(path, Z, y, X, data["class_names"],
                   f"t-SNE of the pretrained encoder's features: {len(y)} validation images",
                   seed=seed)  # fmt: skip
    return path


def cmd_probe(args) -> int:
    from visionblocks.checkpoint import atomic_write_json, load_checkpoint
    from visionblocks.ssl import evaluate as E
    from visionblocks.torchkit import checkpoint as ckpt
    from visionblocks.training import saved_config

    run_dir = Path(args.run_dir)
    cfg = saved_config(run_dir)
    E.parse_labels(args.labels)
    data = load_data(cfg)
    model = build_model(cfg, data["X_train"].shape[1])
    random_encoder = build_model(cfg, data["X_train"].shape[1]).encoder  # the same init
    arrays, meta = load_checkpoint(run_dir / "best")
    ckpt.load_state(model, ckpt.group(arrays, "params/"))
    idx = E.label_subset(data["y_train"], args.labels, seed=args.seed)
    ft_epochs = args.finetune_epochs
    if ft_epochs is None:
        steps = -(-len(idx) // 64)  # per epoch
        ft_epochs = min(200, max(10, round(1500 / steps))) if len(idx) <= 6000 else 0
    which = "all the" if args.labels == "all" else f"a class-balanced draw (seed {args.seed}) of"
    print(f"{cfg['method']} run {run_dir} (epoch {meta['epoch']}); labels {args.labels}: "
          f"{which} {len(idx)} training images", flush=True)  # fmt: skip
    rows = {}
    encoders = {"pretrained": model.encoder}
    if args.baselines:
        encoders["random-init"] = random_encoder
    for name, enc in encoders.items():
        t = time.perf_counter()
        rows[f"linear probe, {name} encoder"] = E.linear_probe(
            enc, data, idx, max_iter=args.probe_iters, test=args.test
        )
        rows[f"linear probe, {name} encoder"]["seconds"] = round(time.perf_counter() - t, 1)
    if ft_epochs > 0:
        names = {
            "pretrained": "fine-tune, pretrained encoder",
            "random-init": "supervised from scratch (random-init encoder, fine-tuned)",
        }
        for name, enc in encoders.items():
            t = time.perf_counter()
            rows[names[name]] = E.fine_tune(enc, data, idx, epochs=ft_epochs,
                                            lr=args.finetune_lr, seed=args.seed,
                                            test=args.test)  # fmt: skip
            rows[names[name]]["seconds"] = round(time.perf_counter() - t, 1)
    for what, r in rows.items():
        test = f"  test {r['test_acc']:.4f}" if r["test_acc"] is not None else ""
        print(f"{what:62s} val {r['val_acc']:.4f}{test}  ({r['seconds']} s)")
    for what, r in rows.items():
        print(f"  protocol of '{what}': {r['protocol']}")
    tag = args.labels.replace("%", "pct")
    out = run_dir / f"probe_{tag}.json"
    result = {"labels": args.labels, "n_labels": int(len(idx)), "seed": args.seed,
              "checkpoint_epoch": meta["epoch"], "results": rows}  # fmt: skip
    atomic_write_json(out, result)
    print(f"wrote {out}")
    if args.tsne:
        print(f"wrote {_tsne_plot(run_dir, model.encoder, data, args.tsne, args.seed)}")
    return 0
