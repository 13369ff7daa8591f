"""A numpy model of the exact assignment's GEMM-path filter (kernels/cuda/assign_cuda.cu): whether
the equidistant-elements cases of tests/gpu/test_fl_assign_cuda.c can catch a bound that leaves a
term out.

Rows a few units in the last place from a point; 600 elements at distance 1 from it, on a sphere
(pairs m ± u) or a hemisphere (u₀ ≥ 0). The model centres on the set's mean, splits every centred
value into bfloat16 halves, sums the three products exactly and rounds the dot to float (the tensor
cores' own FP32 sums add error the model leaves out), keeps ‖y − c‖² as float, and applies the
filter's band with every term, without the 2⁻²³·max‖y − c‖² term, and without the dot term. It
prints the mean number of candidates a row and how many rows lose their exact nearest.

    python3 bench/fl/filter_bound_model.py
"""
import math

import numpy as np


def bf16(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def split(m):
    f = m.astype(np.float32)
    h = bf16(f)
    return h.astype(np.float64), bf16(f - h).astype(np.float64)


def case(rng, hemisphere, D=48, n_elements=600, rows=2000):
    point = rng.uniform(-1, 1, D)
    y = np.empty((n_elements, D), dtype=np.float32)
    for j in range(n_elements):
        if hemisphere or j % 2 == 0:
            u = rng.uniform(-1, 1, D)
            u /= np.linalg.norm(u)
            if hemisphere:
                u[0] = abs(u[0])
        y[j] = (point + (-u if not hemisphere and j % 2 else u)).astype(np.float32)
    x = np.empty((rows, D), dtype=np.float32)
    for r in range(rows):
        for t in range(D):
            v = np.float32(point[t])
            for _ in range(rng.integers(4)):
                v = np.nextafter(v, np.float32(np.inf if (r + t) % 2 else -np.inf))
            x[r, t] = v
    c = y.astype(np.float64).mean(0).astype(np.float32)
    v, w = x.astype(np.float64) - c, y.astype(np.float64) - c
    (vh, vl), (wh, wl) = split(v), split(w)
    dot = (vh @ wh.T + vl @ wh.T + vh @ wl.T).astype(np.float32).astype(np.float64)
    nx, ny = (v * v).sum(1), (w * w).sum(1).astype(np.float32).astype(np.float64)
    a = nx[:, None] + ny[None, :] - 2 * dot
    exact = ((x.astype(np.float64)[:, None, :] - y.astype(np.float64)[None, :, :]) ** 2).sum(2)
    nearest = exact.argmin(1)
    K = (3 * D + 7) // 8 * 8
    u = 2.0**-21
    rel = 3.2 * 2.0**-16 + 1.02 * K * u / (1 - K * u)
    nmax = ny.max() * (1 + 2.0**-22)
    sx, smax, tail = np.sqrt(nx), math.sqrt(nmax), 4 * (D + 8) * 2.0**-52
    for name, dot_term, norm_term in (("every term", 1, 1), ("no 2^-23 max|y-c|^2", 1, 0), ("no dot term", 0, 1)):
        band = 2 * 1.01 * (2 * dot_term * rel * sx * smax + tail * (nx + nmax) + norm_term * 2.0**-23 * nmax)
        keep = a <= a.min(1)[:, None] + band[:, None]
        lost = int((~keep[np.arange(rows), nearest]).sum())
        shape = "hemisphere" if hemisphere else "sphere"
        print(f"{shape:10s} {name:22s} candidates a row {keep.sum(1).mean():7.1f}, rows losing the nearest {lost}")


if __name__ == "__main__":
    rng = np.random.default_rng(1)
    case(rng, 0)
    case(rng, 1)
