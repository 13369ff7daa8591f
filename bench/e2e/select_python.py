#!/usr/bin/env python3
"""A Python user's whole job on an embeddings file: load /E and /y with h5py, then gradcore.select.

    python3 bench/e2e/select_python.py E.h5 --method craig --k 0.1% [--device cuda] [--tensor]
                                        [--timings T.json] [--compare CLI.h5]

With --tensor the rows are first put on the GPU as PyTorch tensors, as a training script holds its
embeddings (gradcore.torch.embeddings(as_tensors=True)), and selected from there. Prints the seconds
of the load (and of the move to the GPU) and of the select call (wall clock, as the user waits) and,
with --compare, whether the coreset's index and weight equal those of a `gradcore select` output
file. The package is the repository's (python/), its library $GRADCORE_LIBRARY."""
import argparse
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import gradcore  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("embeddings")
    ap.add_argument("--method", default="craig")
    ap.add_argument("--k", default="0.1%")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--timings")
    ap.add_argument("--compare")
    ap.add_argument("--tensor", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with h5py.File(args.embeddings, "r") as f:
        e, y = f["E"][()], f["y"][()]
    moved = ""
    if args.tensor:
        import torch
        t1 = time.perf_counter()
        e, y = torch.from_numpy(e).cuda(), torch.from_numpy(y).cuda()
        torch.cuda.synchronize()
        moved = f" (of which to the GPU {time.perf_counter() - t1:.2f} s)"
    loaded = time.perf_counter()
    options = {"timings": args.timings} if args.timings else {}
    cs = gradcore.select(e, y, k=args.k, method=args.method, device=args.device, quiet=True, **options)
    done = time.perf_counter()
    what = "tensor" if args.tensor else "arrays"
    print(f"python {args.method} ({what}): N = {len(y):,}, D = {e.shape[1]}, k = {len(cs.index):,}: "
          f"load {loaded - t0:.2f} s{moved}, gradcore.select {done - loaded:.2f} s, total {done - t0:.2f} s")
    if args.compare:
        with h5py.File(args.compare, "r") as f:
            same = np.array_equal(f["coreset/index"][()], cs.index) and np.array_equal(f["coreset/weight"][()],
                                                                                        cs.weight)
        print(f"python {args.method} ({what}): index and weight {'equal to' if same else 'DIFFER from'} "
              f"{args.compare}")


if __name__ == "__main__":
    main()
