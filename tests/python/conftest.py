"""Helpers for the Python package's tests (tests/python): the package under test is the installed
`gradcore` (CI installs it with pip into a fresh virtual environment), or python/ with
$GRADCORE_LIBRARY pointing at a build tree's libgradcore.so. The CLI they compare against is
$GRADCORE_BIN (default <repo>/build/gradcore)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("GRADCORE_BIN", str(REPO / "build" / "gradcore"))
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}
os.environ.update(MPI_ENV)  # this process may start MPI itself (a singleton rank)


def mpirun(args, ranks):
    """`mpirun -np ranks ARGS`; returns the CompletedProcess, asserting success."""
    cmd = ["mpirun", "-q", "--oversubscribe", "-np", str(ranks)] + [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def cli():
    """Runs `gradcore ARGS` on `ranks` ranks."""
    return lambda args, ranks=1: mpirun([BIN] + list(args), ranks)


@pytest.fixture
def python_ranks():
    """Runs `python SCRIPT ARGS` on `ranks` ranks with this interpreter."""
    return lambda script, args, ranks: mpirun([sys.executable, script] + list(args), ranks)
