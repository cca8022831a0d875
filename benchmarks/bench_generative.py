"""Likelihood benchmarks of the generative models on Fashion-MNIST (issue 16).

    flock /tmp/visionblocks-cpu.lock python benchmarks/bench_generative.py vae --epochs 25
    flock /tmp/visionblocks-cpu.lock python benchmarks/bench_generative.py pixelcnn \
        --num-train 30000

Protocol: the 60,000 training images minus a seeded 5,000-image validation split (load_dataset's
default) train the model; the epoch kept is the one of the lowest validation loss (validation
-ELBO for the VAE, validation bits/dim for PixelCNN); the test split (10,000 images) is scored
once, at the end, with the kept weights. The VAE sees dynamically binarised training images;
validation and test images are binarised once with a fixed seed. Prints and writes one JSON
record (wall time, load before and after, thread count) and, with --images, sample grids.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from visionblocks.data import load_dataset
from visionblocks.generative.grid import save_grid
from visionblocks.generative.pixelcnn import PixelCNN, histogram_bits_per_dim, quantize
from visionblocks.generative.vae import VAE, evaluate_bounds
from visionblocks.generative.vae_loop import LikelihoodTrainer


def _load():
    return os.getloadavg()[0]


def run_vae(args, data, out_dir):
    torch.manual_seed(args.seed)
    model = VAE((1, 28, 28), hidden=(400,), latent_dim=20)
    trainer = LikelihoodTrainer(model, data, lr=args.lr, epochs=args.epochs, batch_size=100,
                                seed=args.seed, out_dir=out_dir, num_samples=64,
                                verbose=True)  # fmt: skip
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = evaluate_bounds(model, data["X_test"], k=args.k, batch_size=25, seed=1,
                           binarize_seed=54321)  # fmt: skip
    eval_s = time.perf_counter() - t0
    if args.images:
        save_grid(trainer.generate(64, seed=0), Path(args.images) / "vae_fashion_samples.png")
    return {
        "model": "VAE 784-400-20 (ReLU MLP, Bernoulli decoder), Adam",
        "params": sum(p.numel() for p in model.parameters()),
        "lr": args.lr, "batch_size": 100, "epochs": args.epochs,
        "best_epoch": trainer.best_epoch, "val_neg_elbo": trainer.history("val_neg_elbo"),
        "test_neg_elbo": test["neg_elbo"], f"test_neg_iwae{args.k}": test["neg_iwae"],
        "train_seconds": round(train_s, 1), "test_eval_seconds": round(eval_s, 1),
    }  # fmt: skip


def run_pixelcnn(args, data, out_dir):
    torch.manual_seed(args.seed)
    model = PixelCNN((1, 28, 28), channels=32, num_layers=5)
    trainer = LikelihoodTrainer(model, data, lr=args.lr, epochs=args.epochs, batch_size=32,
                                seed=args.seed, out_dir=out_dir, sample_every=0,
                                eval_batch_size=250, verbose=True)  # fmt: skip
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    q_test = quantize(torch.as_tensor(data["X_test"]))
    t0 = time.perf_counter()
    test = trainer.evaluate(q_test)
    eval_s = time.perf_counter() - t0
    hist = histogram_bits_per_dim(quantize(torch.as_tensor(data["X_train"])), q_test)
    t0 = time.perf_counter()
    samples = trainer.generate(64, seed=0)
    sample_s = time.perf_counter() - t0
    if args.images:
        save_grid(samples, Path(args.images) / "pixelcnn_fashion_samples.png")
    return {
        "model": "PixelCNN: 7x7 type-A, 5 residual 3x3 type-B, 1x1 head, 32 channels, 256-way",
        "params": sum(p.numel() for p in model.parameters()),
        "lr": args.lr, "batch_size": 32, "epochs": args.epochs,
        "num_train": len(data["X_train"]),
        "val_bits_per_dim": trainer.history("val_bits_per_dim"),
        "test_bits_per_dim": test["val_bits_per_dim"],
        "test_histogram_bits_per_dim": hist,
        "train_seconds": round(train_s, 1), "test_eval_seconds": round(eval_s, 1),
        "sample_64_seconds": round(sample_s, 1),
    }  # fmt: skip


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", choices=["vae", "pixelcnn"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=200, help="IWAE samples on the test split")
    p.add_argument("--num-train", type=int, default=None, help="seeded training subsample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", default=None, help="folder for sample grids (docs/images)")
    p.add_argument("--out", default=None, help="JSON file for the record")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 25 if args.model == "vae" else 1
    torch.set_num_threads(args.threads)
    wall0, load0 = time.perf_counter(), _load()
    data = load_dataset("fashion-mnist", num_train=args.num_train, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        run = run_vae if args.model == "vae" else run_pixelcnn
        record = run(args, data, Path(tmp) / "run")
    record.update(
        wall_seconds=round(time.perf_counter() - wall0, 1), load_before=load0,
        load_after=_load(), torch_threads=torch.get_num_threads(),
        torch=torch.__version__, python=platform.python_version(),
    )  # fmt: skip
    text = json.dumps(record, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return record


if __name__ == "__main__":
    main()
