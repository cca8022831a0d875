"""The NumPy and the PyTorch engine on the same ConvNet, epoch for epoch.

Both start from the same weights (the torch model is the NumPy model's twin) and see the same
minibatches (the Solver and the Trainer draw one seeded permutation per epoch), with Adam at the
same learning rate; the table gives validation accuracy and training images per second (the
optimisation loop only, not the accuracy checks) for every epoch, and the final test accuracy.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_engines.py --epochs 5
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--num-train", type=int, default=None)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--filters", default="32,64")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    import torch

    from visionblocks.data import load_dataset
    from visionblocks.models.cnn import ConvNet
    from visionblocks.solver import Solver, predict
    from visionblocks.torchkit import Trainer
    from visionblocks.torchkit.models import twin_of

    data = load_dataset(args.data, num_train=args.num_train, preprocess="standardize",
                        seed=args.seed)  # fmt: skip
    filters = tuple(int(f) for f in args.filters.split(","))
    model = ConvNet(data["X_train"].shape[1:], filters, 1, (args.hidden,), 10,
                    normalization="batchnorm", seed=args.seed)  # fmt: skip
    twin = twin_of(model)  # same architecture and initial weights
    n = data["X_train"].shape[0]
    per_epoch = n // args.batch_size
    rows = {}

    with tempfile.TemporaryDirectory() as out:  # the Solver's metrics.jsonl has the seconds
        solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": args.lr},
                        batch_size=args.batch_size, num_epochs=args.epochs, verbose=False,
                        seed=args.seed, num_train_samples=1000, out_dir=out)  # fmt: skip
        solver.train()
        metrics = [json.loads(line) for line in open(f"{out}/metrics.jsonl")]
    numpy_rows = [{"epoch": m["epoch"], "val_acc": m["val_acc"],
                   "images_per_sec": per_epoch * args.batch_size / m["seconds"]}
                  for m in metrics]  # fmt: skip
    rows["numpy"] = numpy_rows
    numpy_test = float(np.mean(predict(model, data["X_test"]) == data["y_test"]))

    trainer = Trainer(twin, data, update_rule="adam", lr=args.lr, batch_size=args.batch_size,
                      epochs=args.epochs, verbose=False, seed=args.seed, device="cpu")  # fmt: skip
    trainer.train()
    rows["torch"] = [{"epoch": e + 1, "val_acc": v, "images_per_sec": s}
                     for e, (v, s) in enumerate(zip(trainer.val_acc_history,
                                                    trainer.images_per_sec_history))]  # fmt: skip
    torch_test = trainer.check_accuracy(data["X_test"], data["y_test"])

    print(f"\nConvNet {filters} conv-bn-relu-pool, affine {args.hidden}, {args.data} "
          f"({n} train images), Adam lr {args.lr}, batch {args.batch_size}, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads\n")  # fmt: skip
    print("| epoch | numpy val acc | torch val acc | numpy images/s | torch images/s | ratio |")
    print("|---|---|---|---|---|---|")
    for a, b in zip(rows["numpy"], rows["torch"]):
        ratio = b["images_per_sec"] / a["images_per_sec"]
        speeds = f"{a['images_per_sec']:.0f} | {b['images_per_sec']:.0f} | {ratio:.1f}x"
        print(f"| {a['epoch']} | {a['val_acc']:.4f} | {b['val_acc']:.4f} | {speeds} |")
    print(f"\ntest accuracy (best-validation weights): numpy {numpy_test:.4f}, "
          f"torch {torch_test:.4f}")  # fmt: skip
    if args.json:
        rows.update(numpy_test=numpy_test, torch_test=torch_test)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
