"""The PyTorch baseline of docs/design.md §7 on this machine's GPU: plain OMP with a least-squares refit per
step (normal equations with the same ridge as bench_omp), on N(0.1, 1) rows of width D.
Prints one JSON line per case, like bench_omp. Usage: torch_omp.py [n:D:k ...]"""
import json
import sys
import time

import torch


def omp(E, k, ridge):
    g = E.sum(0, dtype=torch.float64)
    inv_norm = 1.0 / E.norm(dim=1)
    chosen = torch.zeros(E.shape[0], dtype=torch.bool, device=E.device)
    selected, r = [], g
    for _ in range(k):
        scores = (E @ r.float()).abs() * inv_norm
        scores[chosen] = -float("inf")
        j = int(torch.argmax(scores))
        selected.append(j)
        chosen[j] = True
        A = E[selected].double()                       # m × D
        G = A @ A.T + ridge * torch.eye(len(selected), dtype=torch.float64, device=E.device)
        gamma = torch.cholesky_solve((A @ g)[:, None], torch.linalg.cholesky(G))[:, 0]
        r = g - A.T @ gamma
    return selected, float(r.norm() / g.norm())


def main():
    cases = sys.argv[1:] or ["4000000:128:200", "1000000:256:200"]
    for case in cases:
        n, D, k = (int(v) for v in case.split(":"))
        E = torch.randn(n, D, device="cuda") + 0.1
        omp(E, 2, 1e-3)  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        _, residual = omp(E, k, 1e-3)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        pass_bytes = n * D * 4
        print(json.dumps({"impl": "torch", "device": torch.cuda.get_device_name(), "n": n, "D": D, "k": k,
                          "seconds": round(seconds, 4), "ms_per_pass": round(seconds / k * 1e3, 3),
                          "effective_GBps": round(pass_bytes * k / seconds / 1e9, 1),
                          "relative_residual": residual}), flush=True)


if __name__ == "__main__":
    main()
