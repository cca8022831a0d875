"""``visionblocks sample RUN`` and ``visionblocks interpolate RUN``: PNG grids from a generative
run's best checkpoint (VAE, autoencoder, PixelCNN)::

    visionblocks sample runs/vae --n 64                 # runs/vae/samples/sample_n64_seed0.png
    visionblocks sample runs/vae2d --latent-map 15      # a 2-d latent: the decoded 15 x 15 grid
    visionblocks interpolate runs/vae --pairs 4 --steps 8

Sampling an autoencoder (no prior) is refused; its ``interpolate`` works like the VAE's.
"""

from __future__ import annotations

import time
from pathlib import Path

from visionblocks.errors import ConfigError


def add_parser(sub) -> None:
    """Adds the ``sample`` and ``interpolate`` commands."""
    p = sub.add_parser("sample", help="draw samples from a generative run (a PNG grid)")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=64, help="images to draw (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latent-map", type=int, default=None, metavar="N",
                   help="a 2-d latent: decode an N x N grid of codes instead")  # fmt: skip
    p.add_argument("--out", default=None, help="PNG path (default RUN/samples/...)")
    p.set_defaults(func=_cmd_sample)
    q = sub.add_parser("interpolate", help="decode straight paths between validation images")
    q.add_argument("run_dir")
    q.add_argument("--pairs", type=int, default=4, help="rows: pairs of validation images")
    q.add_argument("--steps", type=int, default=8, help="images per row, both ends included")
    q.add_argument("--seed", type=int, default=0, help="picks the pairs")
    q.add_argument("--out", default=None, help="PNG path (default RUN/samples/...)")
    q.set_defaults(func=_cmd_interpolate)


def load_run(run_dir):
    """(cfg, model in eval mode with the best weights, data) of a generative run."""
    from visionblocks.checkpoint import load_checkpoint
    from visionblocks.generative.specs import build_model
    from visionblocks.run_inputs import load_run_data
    from visionblocks.runs import read_run_config
    from visionblocks.torchkit import checkpoint as ckpt

    cfg = read_run_config(run_dir)
    if cfg.model not in ("vae", "ae", "pixelcnn"):
        raise ConfigError(f"{run_dir} is a {cfg.model!r} run, not a generative one (vae, ae, "
                          "pixelcnn)")  # fmt: skip
    data = load_run_data(cfg)
    model = build_model(cfg, data["X_train"].shape[1:])
    arrays, _ = load_checkpoint(Path(run_dir) / "best")
    try:
        ckpt.load_state(model, ckpt.group(arrays, "params/"))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"checkpoint does not fit model {cfg.model!r}: {first}") from None
    return cfg, model.eval(), data


def _is_gan_run(run_dir) -> bool:
    """Whether ``run_dir``'s config names one of the GANs (they sample from their generator)."""
    import json

    from visionblocks.generative.gan_runner import GAN_MODELS

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return False  # load_run says what is missing
    model = json.loads(path.read_text()).get("model")
    return isinstance(model, dict) and model.get("name") in GAN_MODELS


def _cmd_sample(args) -> int:
    import torch

    from visionblocks.generative.grid import save_grid

    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if _is_gan_run(args.run_dir):
        if args.latent_map is not None:
            raise ConfigError("--latent-map: a GAN's noise is not a 2-d latent; drop the flag")
        from visionblocks.generative.gan_runner import sample_gan_run

        start = time.perf_counter()
        out = sample_gan_run(args.run_dir, n=args.n, seed=args.seed, out=args.out)
        print(f"wrote {out} ({args.n} images in {time.perf_counter() - start:.1f} s)")
        return 0
    cfg, model, _ = load_run(args.run_dir)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed)
    if args.latent_map is not None:
        if cfg.model == "pixelcnn":
            raise ConfigError("--latent-map: a PixelCNN has no latent space")
        images, name = model.latent_map(args.latent_map), f"latent_map_{args.latent_map}.png"
        ncols = args.latent_map
    elif cfg.model == "ae":
        raise ConfigError("an autoencoder has no prior to sample from: train --model vae, or "
                          "use `visionblocks interpolate` / --latent-map")  # fmt: skip
    else:
        images, name, ncols = (
            model.sample(args.n, gen),
            f"sample_n{args.n}_seed{args.seed}.png",
            None,
        )
        if cfg.model == "pixelcnn":
            images = images.float() / (model.levels - 1)
    out = Path(args.out) if args.out else Path(args.run_dir) / "samples" / name
    save_grid(images.float().numpy(), out, ncols=ncols)
    print(f"wrote {out} ({len(images)} images in {time.perf_counter() - start:.1f} s)")
    return 0


def _cmd_interpolate(args) -> int:
    import numpy as np
    import torch

    from visionblocks.generative.grid import save_grid
    from visionblocks.generative.vae import binarize

    if args.pairs < 1 or args.steps < 2:
        raise ConfigError(f"need --pairs >= 1 and --steps >= 2, got {args.pairs}, {args.steps}")
    cfg, model, data = load_run(args.run_dir)
    if cfg.model == "pixelcnn":
        raise ConfigError("interpolate: a PixelCNN has no latent space (try vae or ae)")
    x = torch.as_tensor(np.asarray(data["X_val"]), dtype=next(model.parameters()).dtype)
    pick = np.random.default_rng(args.seed).choice(len(x), 2 * args.pairs, replace=False)
    xs = x[torch.as_tensor(pick)]
    if cfg.model == "vae" and model.likelihood == "bernoulli" and cfg.model_options["binarize"]:
        xs = binarize(xs, torch.Generator().manual_seed(args.seed))  # what the model saw
    rows = [model.interpolate(xs[2 * i], xs[2 * i + 1], args.steps) for i in range(args.pairs)]
    name = f"interpolate_{args.pairs}x{args.steps}_seed{args.seed}.png"
    out = Path(args.out) if args.out else Path(args.run_dir) / "samples" / name
    save_grid(torch.cat(rows).float().numpy(), out, ncols=args.steps)
    print(f"wrote {out} ({args.pairs} rows of {args.steps})")
    return 0
