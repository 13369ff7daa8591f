"""Run by test_select.py under `mpirun -np P python select_ranks.py IN.npz OUT.npz OPTIONS.json SPLIT`:
each rank passes its own rows to gradcore.select with comm=MPI.COMM_WORLD, checks that every rank got
the same coreset, and rank 0 saves it. SPLIT "uneven": rank r of P takes a share growing with r (the
first rank the smallest), so the rows are moved to the selectors' split first; "shard": the rows of
gradcore.shard, used in place; "nan": the uneven split with a NaN in the last rank's first row, and
every rank must raise the same GradcoreError (rank 0 saves its status and message). With the option
"tensor": true each rank's rows go in as a PyTorch tensor on its own GPU (rank r on cuda:r mod the
GPUs; tests/gpu/test_select_cuda.py)."""
import json
import sys

import numpy as np
from mpi4py import MPI

import gradcore

comm = MPI.COMM_WORLD
data = np.load(sys.argv[1])
options = json.loads(open(sys.argv[3]).read())
split = sys.argv[4]
n = len(data["y"])
cuts = np.rint(np.cumsum([0] + [r + 1 for r in range(comm.size)]) / (comm.size * (comm.size + 1) / 2) * n)
lo, hi = gradcore.shard(n, comm) if split == "shard" else (int(cuts[comm.rank]), int(cuts[comm.rank + 1]))
E = data["E"][lo:hi].copy()
if options.pop("tensor", False):
    import torch
    E = torch.from_numpy(E).cuda(comm.rank % torch.cuda.device_count())
if split == "nan":
    if comm.rank == comm.size - 1:
        E[0, 0] = np.nan
    try:
        gradcore.select(E, data["y"][lo:hi], comm=comm, **options)
    except gradcore.GradcoreError as err:
        raised = (err.status, str(err))
    else:
        raised = None
    assert all(other == raised for other in comm.allgather(raised)), "ranks disagree on the failure"
    if comm.rank == 0:
        np.savez(sys.argv[2], status=raised[0] if raised else 0, message=raised[1] if raised else "")
    sys.exit(0)
cs = gradcore.select(E, data["y"][lo:hi], loss=data["loss"][lo:hi], comm=comm, **options)
for name in ("index", "weight", "label", "gain"):
    mine = getattr(cs, name)
    assert all(np.array_equal(mine, other) for other in comm.allgather(mine)), f"{name} differs between ranks"
if comm.rank == 0:
    np.savez(sys.argv[2], index=cs.index, weight=cs.weight, label=cs.label, gain=cs.gain)
