"""Test configuration: float64 everywhere (saddle work needs it), as optimistix's tests do."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: an OpenMP team per worker (tblite, PySCF, BLAS)
# oversubscribes them, and tblite's spinning threads slowed a neighbouring EMT test 40x.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
