"""BLEU on the offline captioning set: image-blind LSTM against RNN, GRU, LSTM and attention.

Generates the set (``make_caption_dataset(seed)``: 4000 train / 500 val / 500 test / 500
test_combo images, 5 references each), trains each captioner with the CaptioningSolver (Adam,
teacher forcing, the epoch of best validation BLEU-4 kept) once per model seed and scores the
kept weights once on ``test`` (the training combinations) and ``test_combo`` (only held-out
colour-shape pairs), greedy and beam 3. BLEU: corpus BLEU-1..4 on the vocabulary's words
(special tokens left out), fractions in [0, 1]; exact: the fraction of images captioned exactly
as one of their references. The blind model gets all-zero features (it learns the caption prior
only).

Features (``--features``): ``cnn`` (default): the frozen CNN encoder of ``captioning.encoder``
(trained once, seed 0, on the train split's object attributes): its 64-d global-pooled vector
for RNN/GRU/LSTM, its 64 x 8 x 8 last conv map for the attention LSTM. ``pixels``: 4x4-pooled
pixels (192-d) and the 8x8 grid of 4x4 cells (48-d each).

The torch Transformer captioners (``--models Transformer,"grid Transformer"``; the course's
CaptioningTransformer with the image as one memory token, and the grid variant cross-attending
over the 64 x 8 x 8 map): wordvec 64, 4 heads, 2 layers, FFN 256, dropout 0.1, Adam 1e-3 (the
course's), the course's loss averaged over all N*T positions; the rest as the LSTMs
(``TorchCaptioningSolver``).

    cd benchmarks && flock /tmp/visionblocks-cpu.lock ../.venv/bin/python bench_captioning.py \\
        --seeds 0,1,2 --json captioning.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from fairness import env_line, environment, fmt_load, loadavg

from visionblocks.captioning.attention import AttentionCaptioner
from visionblocks.captioning.encoder import attribute_targets, train_encoder
from visionblocks.captioning.rnn import CaptioningRNN
from visionblocks.captioning.solver import CaptioningSolver
from visionblocks.captioning.synthetic import make_caption_dataset, to_captioning_data
from visionblocks.captioning.torch_solver import TorchCaptioningSolver
from visionblocks.captioning.transformer import CaptioningTransformer, GridCaptioningTransformer

MODELS = (("blind LSTM", "lstm", "none"), ("RNN", "rnn", "vec"), ("GRU", "gru", "vec"),
          ("LSTM", "lstm", "vec"), ("attention LSTM", "attention", "map"),
          ("Transformer", "transformer", "vec"),
          ("grid Transformer", "transformer-grid", "map"))  # fmt: skip
KINDS = {"cnn": {"vec": "cnn", "map": "cnn-grid", "none": "none"},
         "pixels": {"vec": "pixels", "map": "grid", "none": "none"}}  # fmt: skip


def _transformer(cell, data, args, seed):
    """The torch Transformer captioner (one memory token, or the grid of the CNN's map)."""
    feats = data["train_features"]
    kw = dict(num_heads=4, num_layers=2, max_length=max(20, data["train_captions"].shape[1]),
              dim_feedforward=args.transformer_ffn, dropout=args.transformer_dropout)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cell == "transformer-grid":
            grid = feats.shape[2:]
            return GridCaptioningTransformer(data["word_to_idx"], feats.shape[1],
                                             args.wordvec_dim, grid_size=grid, **kw)  # fmt: skip
        return CaptioningTransformer(data["word_to_idx"], feats.shape[1], args.wordvec_dim, **kw)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="the data set's seed")
    p.add_argument("--seeds", default="0", help="model seeds (init and batch order), e.g. 0,1,2")
    p.add_argument("--features", choices=tuple(KINDS), default="cnn")
    p.add_argument("--encoder-epochs", type=int, default=12)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--hidden-dim", type=int, default=128)
    p.add_argument("--wordvec-dim", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--attention-reg", type=float, default=1.0)
    p.add_argument("--attention-dim", type=int, default=None, help="default: hidden dim")
    p.add_argument("--models", default="blind LSTM,RNN,GRU,LSTM,attention LSTM")
    p.add_argument("--transformer-lr", type=float, default=1e-3, help="Adam lr of the torch "
                   "Transformer captioners (the course's 1e-3)")  # fmt: skip
    p.add_argument("--transformer-ffn", type=int, default=256)
    p.add_argument("--transformer-dropout", type=float, default=0.1)
    p.add_argument("--json", default=None, help="write every run's scores here")
    args = p.parse_args()
    wanted = args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    ds = make_caption_dataset(args.seed, n_train=args.n_train)
    print(f"set: seed {args.seed}, " + ", ".join(f"{s} {len(ds.images[s])}" for s in ds.splits)
          + f" images, {ds.captions['train'].shape[1]} references each")  # fmt: skip
    print(env_line(environment()))
    encoder, record = None, None
    if args.features == "cnn":
        load0 = loadavg()
        encoder, record = train_encoder(ds, epochs=args.encoder_epochs, seed=0)
        record["test_combo_accuracy"] = encoder.accuracy(ds.images["test_combo"], attribute_targets(
            ds.objects["test_combo"], ds.relations["test_combo"]))  # fmt: skip
        record["load"] = load0
        print("encoder:", json.dumps(record), flush=True)
    runs = []
    for name, cell, role in MODELS:
        if name not in wanted:
            continue
        data = to_captioning_data(ds, features=KINDS[args.features][role], encoder=encoder)
        for seed in seeds:
            dims = dict(wordvec_dim=args.wordvec_dim, hidden_dim=args.hidden_dim, seed=seed)
            if cell.startswith("transformer"):
                model = _transformer(cell, data, args, seed)
            elif cell == "attention":
                model = AttentionCaptioner(
                    data["word_to_idx"], data["train_features"].shape[1:],
                    attention_dim=args.attention_dim or args.hidden_dim,
                    attention_reg=args.attention_reg, **dims,
                )  # fmt: skip
            else:
                model = CaptioningRNN(data["word_to_idx"], data["train_features"].shape[1],
                                      cell_type=cell, **dims)  # fmt: skip
            load0, t0 = loadavg(), time.perf_counter()
            common = dict(lr_decay=0.95, batch_size=100, num_epochs=args.epochs, grad_clip=5.0,
                          max_length=20, num_val_samples=None, seed=seed, verbose=False,
                          print_every=0)  # fmt: skip
            if cell.startswith("transformer"):
                solver = TorchCaptioningSolver(model, data, lr=args.transformer_lr, **common)
            else:
                adam = {"learning_rate": args.lr}
                solver = CaptioningSolver(model, data, update_rule="adam", optim_config=adam,
                                          **common)  # fmt: skip
            solver.train()
            seconds = time.perf_counter() - t0
            run = {"model": name, "seed": seed, "kept_epoch": solver.best_epoch,
                   "val_bleu4": solver.best_score, "train_s": round(seconds, 1),
                   "load": load0, "scores": {}}  # fmt: skip
            for decode in ("greedy", "beam"):
                solver.val_decode = decode
                for split in ("test", "test_combo"):
                    run["scores"][f"{decode}/{split}"] = solver.check_bleu(split)
            runs.append(run)
            print(json.dumps(run), flush=True)
    print(f"\nmean ± sample std (ddof=1) over seeds {seeds} ({args.features} features)\n")
    print("| model | decoding | split | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | exact | val BLEU-4 "
          "| kept epochs | train s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in MODELS:
        mine = [r for r in runs if r["model"] == name]
        if not mine:
            continue
        for decode in ("greedy", "beam"):
            for split in ("test", "test_combo"):
                cells = []
                for key in [f"bleu{k}" for k in range(1, 5)] + ["exact"]:
                    v = np.array([r["scores"][f"{decode}/{split}"][key] for r in mine])
                    cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
                val = np.array([r["val_bleu4"] for r in mine])
                kept = ",".join(str(r["kept_epoch"]) for r in mine)
                secs = "/".join(f"{r['train_s']:.0f}" for r in mine)
                label = "greedy" if decode == "greedy" else "beam 3"
                print(f"| {name} | {label} | {split} | {' | '.join(cells)} | "
                      f"{val.mean():.3f} | {kept} | {secs} |")  # fmt: skip
    print(f"\nload after: {fmt_load(loadavg())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "encoder": record, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
