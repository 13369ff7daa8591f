"""Quality of `gradcore stream` on a class-incremental split of the built-in example (README
"gradcore stream"): the 20,000-row example (jobs/example-data.ini) cut into 5 batches by class
(0-1, 2-3, …, 8-9, in global row order), streamed batch by batch with a memory of k = 200 rows;
after every batch gradcore reports the relative gradient error ‖Σ_all e − Σ_C w e‖ / ‖Σ_all e‖
against every row seen so far, next to reservoir sampling of the same size (weight seen/k), both in
the method's own embedding. Each construction runs one job per batch, as data would arrive.

usage: python bench/stream/stream_quality.py [--bin build/gradcore] [--np 2] [--k 200]"""
import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

import h5py
import numpy as np

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
LINE = re.compile(r"batch (\d+) .*seen (\d+); coreset of (\d+) rows.*coreset ([0-9.e+-]+), reservoir sampling ([0-9.e+-]+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/gradcore")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--k", type=int, default=200)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stream-quality-"))
    data = work / "data.h5"
    subprocess.run([args.bin, "gen", "--config", "jobs/example-data.ini", "--out", data, "--quiet"], check=True, env=ENV)
    with h5py.File(data, "r") as f:
        X, y = f["X"][()], f["y"][()]
    batches = []
    for t in range(5):
        rows = np.flatnonzero((y == 2 * t) | (y == 2 * t + 1))
        path = work / f"classes-{2 * t}-{2 * t + 1}.h5"
        with h5py.File(path, "w") as f:
            f["X"], f["y"] = X[rows], y[rows]
            f.attrs["num_classes"] = 10
        batches.append((path, len(rows)))
    runs = [("gmc, continual GMC (Algorithm 2)", ["--method", "gmc"]),
            ("gmc, merge-reduce, 4 slots of k/4 (slots merge at batch 5)", ["--method", "gmc", "--slots", "4"]),
            ("craig, merge-reduce, 4 slots of k/4 (slots merge at batch 5)", ["--method", "craig", "--slots", "4"]),
            ("bico, merge-reduce, 4 slots of k/4 (slots merge at batch 5)", ["--method", "bico", "--slots", "4"])]
    print(f"class-incremental split of the built-in example (20,000 rows, d = 32, 10 classes, 5:1 imbalance): "
          f"5 batches of classes 0-1, 2-3, 4-5, 6-7, 8-9 ({', '.join(str(n) for _, n in batches)} rows); "
          f"k = {args.k} (reservoir: min(k, seen) rows); {args.np} ranks, one job per batch; relative gradient error against all rows seen")
    for name, extra in runs:
        state = work / f"state-{len(extra)}-{extra[1]}.h5"
        print(f"\n{name}:")
        print(f"  {'batch':>5} {'seen':>6} {'rows':>5} {'coreset':>10} {'reservoir':>10}")
        for path, _ in batches:
            proc = subprocess.run(["mpirun", "-q", "-np", str(args.np), args.bin, "stream", "--batches", path,
                                   "--state", state, "--k", str(args.k), *extra], capture_output=True, text=True,
                                  env=ENV, check=True)
            m = LINE.search(proc.stdout)
            print(f"  {m[1]:>5} {m[2]:>6} {m[3]:>5} {float(m[4]):>10.4f} {float(m[5]):>10.4f}")


if __name__ == "__main__":
    main()
