"""Run by test_select.py under `mpirun -np P python select_ranks.py IN.npz OUT.npz OPTIONS.json`:
each rank passes its own rows to gradcore.select with comm=MPI.COMM_WORLD (rank r of P takes an
uneven share, the first rank the smallest, so global offsets matter), checks that every rank got
the same coreset, and rank 0 saves it."""
import json
import sys

import numpy as np
from mpi4py import MPI

import gradcore

comm = MPI.COMM_WORLD
data = np.load(sys.argv[1])
options = json.loads(open(sys.argv[3]).read())
n = len(data["y"])
cuts = np.rint(np.cumsum([0] + [r + 1 for r in range(comm.size)]) / (comm.size * (comm.size + 1) / 2) * n)
lo, hi = int(cuts[comm.rank]), int(cuts[comm.rank + 1])
cs = gradcore.select(data["E"][lo:hi], data["y"][lo:hi], loss=data["loss"][lo:hi], comm=comm, **options)
for name in ("index", "weight", "label", "gain"):
    mine = getattr(cs, name)
    assert all(np.array_equal(mine, other) for other in comm.allgather(mine)), f"{name} differs between ranks"
if comm.rank == 0:
    np.savez(sys.argv[2], index=cs.index, weight=cs.weight, label=cs.label, gain=cs.gain)
