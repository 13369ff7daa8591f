"""The plain PyTorch dense facility-location greedy of docs/design.md §7, measured on the same GPU and the
same synthetic rows as bench_fl (read from an HDF5 file written by `gradcore gen`): one m×m
similarity matrix, then per step gains = clamp(S - cur, min=0).sum(0), argmax, cur = max(cur, S[j])."""
import json
import sys
import time

import h5py
import torch


def greedy(X, k):
    mu = X.mean(0)
    c = 2 * (X - mu).norm(dim=1).max()
    S = c - torch.cdist(X, X)
    cur = torch.zeros(X.shape[0], device=X.device)
    taken = torch.zeros(X.shape[0], dtype=torch.bool, device=X.device)
    total = 0.0
    for _ in range(k):
        g = (S - cur[:, None]).clamp_min(0).sum(0)
        g[taken] = -1
        j = int(torch.argmax(g))
        total += float(g[j])
        taken[j] = True
        cur = torch.maximum(cur, S[j])
    return total


for arg in sys.argv[2:]:
    m, k = map(int, arg.split(":"))
    with h5py.File(sys.argv[1]) as f:
        X = torch.tensor(f["X"][:m], device="cuda")
    greedy(X, 5)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    F = greedy(X, k)
    torch.cuda.synchronize()
    print(json.dumps({"impl": "pytorch-dense", "m": m, "k": k, "D": X.shape[1], "seconds": round(time.perf_counter() - t0, 4),
                      "objective": F}))
