#!/usr/bin/env python3
"""Train a small CNN on scikit-learn's digits (8×8 images, 1,437 train / 360 test rows, the split of
tools/digits_to_h5.py) on weighted gradient coresets against random subsets and the full data.

Every `--select-every` epochs the coreset arms compute per-example gradients of the network being
trained, projected to `--dim` columns (gradcore.torch.embeddings, kind="projected"), and select k rows
(`--fraction` of the data) with gradcore.select: `craig` (facility location, weights = cluster
sizes) and `gmc` (orthogonal matching pursuit, least-squares weights); they then train on those rows
with their weights (gradcore.torch.weighted_loss). The random arm draws a uniform subset of the same
size at the same epochs (weight N/k), the full arm trains on every row. Every arm trains the same
number of epochs over its rows, from the same initialisation per seed, with SGD + momentum and the
gradient norm of every step clipped to `--clip` (a row's weight scales its step: once the network fits
most rows, OMP's least-squares weights grow large, and unclipped steps diverge). Time is the process's
CPU time for training, embedding and selection (not the test evaluations), with one PyTorch thread and
one OpenMP thread, so that it does not depend on what else the machine runs; on an idle machine it is
the wall time of the same single-threaded run.

Writes OUT.json (per arm and seed: test accuracy after every epoch and the time it was reached) and
OUT.png (test accuracy against time, mean over seeds), and prints the table the README quotes.

usage:  python examples/digits_cnn.py [--epochs 50] [--seeds 5] [--fraction 0.1] [--out examples/digits_cnn]
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # libgradcore's OpenMP threads: see the time note above

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gradcore
import gradcore.torch as gt

ARMS = ("full", "craig", "gmc", "random")


def digits(seed=0, test_fraction=0.2):
    """The split of tools/digits_to_h5.py: stratified, pixels / 16."""
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    X_tr, X_te, y_tr, y_te = train_test_split(X, d.target, test_size=test_fraction, stratify=d.target,
                                              random_state=seed)
    return torch.tensor(X_tr), torch.tensor(y_tr), torch.tensor(X_te), torch.tensor(y_te)


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        acc = (model(X).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def choose(arm, model, X, y, k, dim, rng, seed):
    """The rows (and weights) the arm trains on for the next epochs."""
    n = len(y)
    if arm == "full":
        return gradcore.Coreset(np.arange(n), np.ones(n), y.numpy(), np.zeros(n), np.zeros(n, np.float32),
                                0.0, 0.0, 0.0)
    if arm == "random":
        index = np.sort(rng.choice(n, k, replace=False))
        return gradcore.Coreset(index, np.full(k, n / k), y.numpy()[index], np.zeros(k), np.zeros(k, np.float32),
                                0.0, 0.0, 0.0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=256)
    E, labels, loss = gt.embeddings(model, loader, kind="projected", dim=dim, seed=seed)
    return gradcore.select(E, labels, k=k, method=arm, loss=loss, seed=seed, quiet=True)


def run_arm(arm, seed, data, args):
    X, y, X_te, y_te = data
    k = int(round(args.fraction * len(y)))
    torch.manual_seed(seed)
    model = cnn()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    dataset = torch.utils.data.TensorDataset(X, y)
    elapsed, curve, errors = 0.0, [], []
    for epoch in range(args.epochs):
        start = time.process_time()
        if epoch % args.select_every == 0:
            cs = choose(arm, model, X, y, k, args.dim, rng, seed)
            if arm in ("craig", "gmc"):
                errors.append([cs.gradient_error, cs.random_gradient_error])
            loader = gt.coreset_loader(dataset, cs, batch_size=args.batch_size, shuffle=True,
                                       generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for xb, yb, wb in loader:
            opt.zero_grad()
            gt.weighted_loss(model(xb), yb, wb).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
        elapsed += time.process_time() - start
        curve.append([elapsed, accuracy(model, X_te, y_te)])
    return {"curve": curve, "gradient_errors": errors, "rows": len(cs)}


def time_to(curve, target):
    hits = [t for t, acc in curve if acc >= target]
    return hits[0] if hits else None


def summarise(results, targets):
    rows = {}
    for arm, runs in results.items():
        final = np.array([r["curve"][-1][1] for r in runs])
        total = np.array([r["curve"][-1][0] for r in runs])
        errors = np.array([e for r in runs for e in r["gradient_errors"]]) if runs[0]["gradient_errors"] else None
        reach = {}
        for target in targets:
            hit = [t for t in (time_to(r["curve"], target) for r in runs) if t is not None]
            reach[f"{target:.2f}"] = {"runs": len(hit), "mean_s": float(np.mean(hit)) if hit else None}
        rows[arm] = {"rows": runs[0]["rows"], "runs": len(runs), "accuracy_mean": final.mean(),
                     "accuracy_std": final.std(), "time_s": total.mean(), "time_to": reach,
                     "gradient_error": None if errors is None else errors[:, 0].mean(),
                     "random_gradient_error": None if errors is None else errors[:, 1].mean()}
    return rows


def table(rows, targets, args):
    reach_heads = " | ".join(f"time to {t:.2f} (runs)" for t in targets)
    lines = [f"| arm | rows | test accuracy after {args.epochs} epochs (mean ± std, {args.seeds} seeds) | "
             f"time | {reach_heads} | gradient error, coreset / random |",
             "|---|---|---|---|" + "---|" * len(targets) + "---|"]
    for arm, r in rows.items():
        reach = " | ".join("never" if v["mean_s"] is None else f"{v['mean_s']:.2f} s ({v['runs']}/{r['runs']})"
                           for v in r["time_to"].values())
        grad = "" if r["gradient_error"] is None else f"{r['gradient_error']:.3f} / {r['random_gradient_error']:.3f}"
        lines.append(f"| {arm} | {r['rows']} | {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} | "
                     f"{r['time_s']:.2f} s | {reach} | {grad} |")
    return "\n".join(lines)


def plot(results, path, targets):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, runs in results.items():
        t = np.mean([[p[0] for p in r["curve"]] for r in runs], axis=0)
        acc = np.array([[p[1] for p in r["curve"]] for r in runs])
        ax.plot(t, acc.mean(0), label=f"{arm} ({runs[0]['rows']} rows)")
        ax.fill_between(t, acc.min(0), acc.max(0), alpha=0.15)
    for target in targets:
        ax.axhline(target, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("CPU time of training, embedding and selection (s, one thread)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"digits CNN: weighted coresets vs random subsets vs full data (mean, min–max of {len(runs)} seeds)")
    ax.title.set_fontsize(9)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--select-every", type=int, default=5)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--targets", default="0.90,0.95,0.97", help="test accuracies whose time to reach is reported")
    parser.add_argument("--clip", type=float, default=5.0, help="gradient-norm clipping of every step, every arm")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads (1: fastest for this small CNN)")
    parser.add_argument("--out", default="examples/digits_cnn")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = digits()
    # One-time costs (MPI start-up, torch.func's first vmap) are paid here, not by the first arm timed.
    for arm in ("craig", "gmc"):
        choose(arm, cnn(), data[0], data[1], 10, args.dim, np.random.default_rng(0), 0)
    results = {arm: [run_arm(arm, seed, data, args) for seed in range(args.seeds)] for arm in args.arms.split(",")}
    targets = [float(t) for t in args.targets.split(",")]
    rows = summarise(results, targets)
    text = table(rows, targets, args)
    print(text)
    with open(f"{args.out}.json", "w") as f:
        json.dump({"arguments": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "summary": rows, "results": results}, f, indent=1)
    plot(results, f"{args.out}.png", targets)


if __name__ == "__main__":
    main()
