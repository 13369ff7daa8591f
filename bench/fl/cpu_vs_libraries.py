"""CPU facility location, gradcore against apricot and submodlib on the same 20k points and the
same objective (similarity c - ‖x_i - x_j‖ with gradcore's constant c, k = 200, one block):
time to select and the objective each reaches. gradcore's time is its 'select' phase (similarity
block + lazy greedy + exact weights); the libraries get the similarity matrix precomputed by numpy,
whose time is reported separately. Usage: python cpu_vs_libraries.py GRADCORE_BIN OUT.txt"""
import os
import platform
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

N, D, K = 20000, 32, 200
binary, out = sys.argv[1], sys.argv[2]
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
lines = []


def objective(S, sel):
    return S[:, sel].max(axis=1).sum()


with tempfile.TemporaryDirectory() as tmp:
    data, cs = f"{tmp}/data.h5", f"{tmp}/cs.h5"
    subprocess.run([binary, "gen", "--out", data, "--n", str(N), "--d", str(D), "--classes", "10", "--seed", "5",
                    "--quiet"], check=True, env=env)
    t0 = time.perf_counter()
    subprocess.run(["mpirun", "-q", "-np", "1", binary, "select", "--data", data, "--embedding", "features",
                    "--per-class", "off", "--partition-size", str(N), "--k", str(K), "--device", "cpu",
                    "--out", cs, "--quiet"], check=True, env=env)
    wall = time.perf_counter() - t0
    with h5py.File(cs) as f:
        ours, c, t_select = f["coreset/index"][()], f.attrs["similarity_constant"], f.attrs["time_select_s"]
    with h5py.File(data) as f:
        X = f["X"][()].astype(np.float64)

t0 = time.perf_counter()
sq = (X * X).sum(1)
S = c - np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0))
t_sim = time.perf_counter() - t0
f_ours = objective(S, ours)
lines.append(f"gradcore lazy greedy      select {t_select:7.2f} s (process {wall:.2f} s)  F = {f_ours:.8g}  ratio 1")

import apricot  # noqa: E402

t0 = time.perf_counter()
sel = apricot.FacilityLocationSelection(K, metric="precomputed", optimizer="lazy").fit(S)
t = time.perf_counter() - t0
f = objective(S, np.asarray(sel.ranking))
lines.append(f"apricot lazy              select {t:7.2f} s + numpy similarity {t_sim:.2f} s  F = {f:.8g}  ratio {f / f_ours:.6f}")

from submodlib import FacilityLocationFunction  # noqa: E402

t0 = time.perf_counter()
fn = FacilityLocationFunction(n=N, mode="dense", sijs=S, separate_rep=False)
chosen = fn.maximize(budget=K, optimizer="LazyGreedy", show_progress=False)
t = time.perf_counter() - t0
f = objective(S, np.array([j for j, _ in chosen]))
lines.append(f"submodlib LazyGreedy      select {t:7.2f} s + numpy similarity {t_sim:.2f} s  F = {f:.8g}  ratio {f / f_ours:.6f}")

header = (f"# bench/fl/cpu_vs_libraries.py: N = {N}, D = {D}, k = {K}, one block, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
with open(out, "w") as fh:
    fh.write(header + "\n" + "\n".join(lines) + "\n")
print(header)
print("\n".join(lines))
