"""A symmetric eigendecomposition that does not hang when vmapped on XLA:CPU.

jaxlib 0.10.2's CPU LAPACK kernels split a batch of matrices across XLA's intra-op thread
pool and block the pool thread that runs them until the pieces are done. When the thunk
executor runs as many such kernels at once as the pool has threads (two independent batched
``eigh`` calls in one loop body on a 2-core machine), every thread waits for pieces that no
thread is free to run, and the program hangs with all threads idle, for good. Measured
(2026-12-08, jaxlib 0.10.2, 2 cores): a vmapped loop over two independent ``eigh`` of 40
symmetric 45x45 matrices hung (often within 2 steps) in all but one of a dozen runs;
``--xla_cpu_multi_thread_eigen=false`` did not help; one matrix per LAPACK call never hung.
The batched RS-P-RFO of ten 13-15-atom molecules with the shipped NNP hung the same way
(gdb: both pool threads in ``lapack_dsyevd_ffi`` -> ``jax::ParallelBatchMap`` ->
``BlockingCounter::Wait``). The batched inverse hangs the same way (40 of 45x45, or 20,000 of 3x3), but the library's only
inverses are of 3x3 cells, one per system, and stay ``jnp.linalg.inv`` (routed through a
loop they changed the last bits of a batched EMT band); ``svd`` (40 of 45x45, 100 of
90x90), ``det`` and ``solve`` did not hang in the same loop.

:func:`eigh` and :func:`eigvalsh` therefore loop over a vmapped batch (``lax.map``, one
matrix per LAPACK call) when compiled for CPU, and batch as usual on other platforms. Their
values are bit-identical to ``jnp.linalg.eigh``'s (the same LAPACK call on the same
symmetrized matrix). A ``custom_vmap`` function cannot be linearized by JAX, so the
derivative is given here: the first-order perturbation formula of JAX's own rule (``dw =
diag(V^T dA V)``, ``dV = V (F * V^T dA V)`` with ``F_ij = 1 / (w_j - w_i)``, undefined for
degenerate eigenvalues, as there).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Float


def _eigh_batched(a: Float[Array, "... n n"]) -> tuple[Float[Array, "... n"], Float[Array, "... n n"]]:
    w, v = jnp.linalg.eigh(a, symmetrize_input=False)
    return w, v


@custom_vmap
def _eigh_lapack(a: Float[Array, "n n"]) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
    return _eigh_batched(a)


@_eigh_lapack.def_vmap
def _eigh_lapack_vmap(axis_size, in_batched, a):
    del axis_size
    if not in_batched[0]:
        return _eigh_lapack(a), (False, False)
    return lax.platform_dependent(a, cpu=lambda a: lax.map(_eigh_lapack, a), default=_eigh_batched), (True, True)


@jax.custom_jvp
def _eigh(a: Float[Array, "n n"]) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
    return _eigh_lapack(a)


@_eigh.defjvp
def _eigh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eigh(a)
    eye = jnp.eye(a.shape[-1], dtype=a.dtype)
    F = 1.0 / (eye + w[None, :] - w[:, None]) - eye
    m = v.T @ da @ v
    return (w, v), (jnp.diagonal(m), v @ (F * m))


def eigh(a: Float[Array, "n n"]) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric part
    ``(a + a^T) / 2`` of a real square matrix: ``jnp.linalg.eigh``, safe to vmap on CPU
    (module docstring). Returns ``(w, V)`` with ``a V = V diag(w)``."""
    a = jnp.asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"eigh takes one square matrix (vmap it for a batch); got shape {a.shape}.")
    return _eigh(0.5 * (a + a.T))


def eigvalsh(a: Float[Array, "n n"]) -> Float[Array, " n"]:
    """Eigenvalues (ascending) of the symmetric part of ``a``: ``jnp.linalg.eigvalsh``, safe to
    vmap on CPU (module docstring)."""
    return eigh(a)[0]

