"""Test configuration: float64 everywhere (saddle work needs it), as optimistix's tests do."""

import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: an OpenMP team per worker (tblite, PySCF, BLAS)
# oversubscribes them (an EMT NEB test took 260 s in a full run beside the xTB tests,
# 6 s alone; tblite is known to spin-wait here).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# JAX's persistent compilation cache, in one fresh directory per test run that both xdist
# workers share (the controller makes it, the workers inherit the variable; removed at the
# end). Importing sella (test_ts_qn, test_reaction) would otherwise turn the cache on in
# ~/.cache/sella for the rest of the process, so that a second run on a machine is twice as
# fast as the first (447 s against 870 s, 2026-12-04) and local timings say nothing of CI.
# Within a run the cache serves the programs compiled again after `_release_compiled_code`
# and those the other worker compiled: 1,041 s without it, 870 s with it, on a cold start.
if "JAXRXN_TEST_JAX_CACHE" not in os.environ:
    os.environ["JAXRXN_TEST_JAX_CACHE"] = tempfile.mkdtemp(prefix="jaxrxn-jax-cache-")
    _OWN_CACHE = os.environ["JAXRXN_TEST_JAX_CACHE"]
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["JAXRXN_TEST_JAX_CACHE"]

# Most of the suite's time is XLA compiling thousands of programs that then run briefly.
# JAX's switch for that case (LLVM at -O0, no expensive passes) compiles the solvers'
# programs 15-45 % faster, and took a fresh-clone run's pytest from 845 s to 688 s on this
# 2-core machine (2026-12-04); the programs compute the same quantities (the assertions
# compare with independent references at tolerances above the last bits). Set in the
# environment so that the tutorials and CLI runs in subprocesses compile the same way.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# XLA:CPU's MLIR fusion emitters take a third longer to compile the same programs than its
# older elemental emitters (tests/test_batch.py's two batch-NEB tests: 48 s of backend
# compilation against 32 s, 2026-12-05); the programs compute the same arithmetic.
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_cpu_use_fusion_emitters=false"]))

import jax  # noqa: E402

jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

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


@pytest.fixture(autouse=True)
def _full_optimization_when_compute_bound(request):
    """A test marked ``compute_bound`` spends its time running its programs, not compiling
    them: it compiles at XLA's full optimization (adaptive KMC 31.6 s -> 21.5 s, TAD 26.2 s
    -> 14.5 s alone)."""
    if request.node.get_closest_marker("compute_bound") is None:
        yield
        return
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


def pytest_unconfigure(config):
    if "_OWN_CACHE" in globals():  # the process that made the cache directory
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
