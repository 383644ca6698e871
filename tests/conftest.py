"""Test configuration: float64 everywhere (saddle work needs it), as optimistix's tests do."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: an OpenMP team per worker (tblite, PySCF, BLAS)
# oversubscribes them (an EMT NEB test took 260 s in a full run beside the xTB tests,
# 6 s alone; tblite is known to spin-wait here).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled executables after each test module. An xdist worker otherwise
    keeps every program it compiled: in a full run each worker grew by ~3 GB a minute and
    the pair outgrew the 24 GB machine at ~85 % of the suite, where XLA's compiler then
    died of a segmentation fault (measured with `free` during `.ci/run`, 2026-12-03)."""
    yield
    jax.clear_caches()
    gc.collect()
