"""Test configuration: float64 everywhere (saddle work needs it), as optimistix's tests do."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: an OpenMP team per worker (tblite, PySCF, BLAS)
# oversubscribes them (an EMT NEB test took 260 s in a full run beside the xTB tests,
# 6 s alone; tblite is known to spin-wait here).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
