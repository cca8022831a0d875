"""BLEU on the offline captioning set: image-blind LSTM against RNN, GRU, LSTM and attention.

Generates the set (``make_caption_dataset(seed)``: 4000 train / 500 val / 500 test / 500
test_combo images, 5 references each), trains each captioner with the CaptioningSolver (Adam,
teacher forcing, the epoch of best validation BLEU-4 kept) and scores the kept weights on
``test`` (the training combinations) and ``test_combo`` (only held-out colour-shape pairs),
greedy and beam 3. BLEU: corpus BLEU-1..4 on the vocabulary's words (special tokens left out),
fractions in [0, 1]; exact: the fraction of images captioned exactly as one of their
references. The blind model gets all-zero features (it learns the caption prior only); the
global-vector models get 4x4-pooled pixels (192-d), the attention LSTM the 8x8 grid of 4x4
cells (48-d each).

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_captioning.py
"""

from __future__ import annotations

import argparse
import time

from fairness import env_line, environment, fmt_load, loadavg

from visionblocks.captioning.attention import AttentionCaptioner
from visionblocks.captioning.rnn import CaptioningRNN
from visionblocks.captioning.solver import CaptioningSolver
from visionblocks.captioning.synthetic import make_caption_dataset, to_captioning_data

MODELS = (("blind LSTM", "lstm", "none"), ("RNN", "rnn", "pixels"), ("GRU", "gru", "pixels"),
          ("LSTM", "lstm", "pixels"), ("attention LSTM", "attention", "grid"))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--hidden-dim", type=int, default=128)
    p.add_argument("--wordvec-dim", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--models", default="blind LSTM,RNN,GRU,LSTM,attention LSTM")
    args = p.parse_args()
    wanted = args.models.split(",")
    ds = make_caption_dataset(args.seed, n_train=args.n_train)
    print(f"set: seed {args.seed}, " + ", ".join(f"{s} {len(ds.images[s])}" for s in ds.splits)
          + f" images, {ds.captions['train'].shape[1]} references each")  # fmt: skip
    print(env_line(environment()))
    rows = []
    for name, cell, feats in MODELS:
        if name not in wanted:
            continue
        data = to_captioning_data(ds, features=feats)
        dims = dict(wordvec_dim=args.wordvec_dim, hidden_dim=args.hidden_dim, seed=args.seed)
        if cell == "attention":
            model = AttentionCaptioner(data["word_to_idx"], data["train_features"].shape[1:],
                                       attention_dim=args.hidden_dim, **dims)  # fmt: skip
        else:
            model = CaptioningRNN(data["word_to_idx"], data["train_features"].shape[1],
                                  cell_type=cell, **dims)  # fmt: skip
        load0, t0 = loadavg(), time.perf_counter()
        solver = CaptioningSolver(model, data, update_rule="adam",
                                  optim_config={"learning_rate": args.lr}, lr_decay=0.95,
                                  batch_size=100, num_epochs=args.epochs, grad_clip=5.0,
                                  max_length=20, num_val_samples=None, seed=args.seed,
                                  verbose=True, print_every=0)  # fmt: skip
        solver.train()
        seconds = time.perf_counter() - t0
        for decode in ("greedy", "beam"):
            solver.val_decode = decode
            for split in ("test", "test_combo"):
                s = solver.check_bleu(split)
                rows.append((name, decode if decode == "greedy" else "beam 3", split, s,
                             solver.best_epoch, seconds, load0))  # fmt: skip
                print(rows[-1][:3], {k: round(v, 4) for k, v in s.items()}, flush=True)
    print("\n| model | decoding | split | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | exact | kept epoch "
          "| train s | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, decode, split, s, best, seconds, load in rows:
        bleu = " | ".join(f"{s[f'bleu{k}']:.3f}" for k in range(1, 5))
        print(f"| {name} | {decode} | {split} | {bleu} | {s['exact']:.3f} | {best} | "
              f"{seconds:.0f} | {fmt_load(load)} |")  # fmt: skip
    print(f"\nload after: {fmt_load(loadavg())}")


if __name__ == "__main__":
    main()
