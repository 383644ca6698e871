"""jaxrxn._linalg: the symmetric eigendecomposition every vmapped solver uses.

The oracle for values and derivatives is ``jnp.linalg`` (LAPACK) and central
finite differences; the hang it avoids is jaxlib 0.10.2's (module docstring of
jaxrxn._linalg), reproduced in a child process held to two CPUs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn._linalg import eigh, eigvalsh

# Two independent vmapped eighs per loop step, 40 matrices of 45x45 (a batched 15-atom
# Hessian): with jnp.linalg.eigh this hung on 2 CPUs in all but one of a dozen runs (2026-12-08).
_HANG = textwrap.dedent(
    """
    import os, sys
    # XLA sizes its CPU thread pool from the affinity when it starts
    os.sched_setaffinity(0, [int(c) for c in sys.argv[1:]])
    import jax, jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    from jaxrxn import _linalg

    op = lambda a: (lambda w, v: (v * w) @ v.T)(*_linalg.eigh(a))

    def body(i, c):
        A, B = c
        X, Y = op(A), op(B)
        return A + 1e-3 * Y / (1 + jnp.abs(Y).max()), B + 1e-3 * X / (1 + jnp.abs(X).max())

    k = jax.random.split(jax.random.PRNGKey(0), 2)
    A, B = (x + x.transpose(0, 2, 1) + 45 * jnp.eye(45) for x in (jax.random.normal(kk, (40, 45, 45)) for kk in k))
    out = jax.jit(jax.vmap(lambda a, b: jax.lax.fori_loop(0, 20, body, (a, b))))(A, B)
    print(float(out[0].sum()))
    """
)


def test_two_concurrent_vmapped_eighs_do_not_hang_on_two_cpus():
    cpus = [str(c) for c in sorted(os.sched_getaffinity(0))[:2]]
    proc = subprocess.run(
        [sys.executable, "-c", _HANG, *cpus],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.isfinite(float(proc.stdout.split()[-1]))


def _symmetric(key, batch, n):
    a = jax.random.normal(key, (batch, n, n))
    return a + a.transpose(0, 2, 1)


def test_vmapped_values_are_lapacks_bit_for_bit():
    a = _symmetric(jax.random.PRNGKey(1), 6, 9)
    w, v = jax.jit(jax.vmap(eigh))(a)
    w0, v0 = jnp.linalg.eigh(a)
    assert np.array_equal(np.asarray(w), np.asarray(w0)) and np.array_equal(np.asarray(v), np.asarray(v0))
    assert np.array_equal(np.asarray(jax.vmap(eigvalsh)(a)), np.asarray(w0))
    # the symmetric part, as jnp.linalg.eigh
    b = a + jnp.triu(jnp.ones((9, 9)))
    np.testing.assert_allclose(jax.vmap(eigvalsh)(b), jnp.linalg.eigvalsh(b), rtol=0, atol=1e-12)


def test_vmapped_gradients_equal_jax_rule_and_finite_differences():
    a = _symmetric(jax.random.PRNGKey(2), 4, 6)
    probe = jax.random.normal(jax.random.PRNGKey(3), (6,))

    def loss(eig, x):
        w, v = eig(x)
        # sign-invariant in each eigenvector
        return jnp.sum(w * jnp.arange(1.0, 7.0)) + jnp.sum((probe @ v) ** 2 * jnp.cos(w))

    g = jax.jit(jax.vmap(jax.grad(lambda x: loss(eigh, x))))(a)
    g0 = jax.vmap(jax.grad(lambda x: loss(jnp.linalg.eigh, x)))(a)
    np.testing.assert_allclose(g, g0, rtol=1e-10, atol=1e-12)
    # forward mode under vmap, against central differences along a symmetric direction
    d = _symmetric(jax.random.PRNGKey(4), 4, 6)
    jvp = jax.vmap(lambda x, dx: jax.jvp(lambda y: loss(eigh, y), (x,), (dx,))[1])(a, d)
    h = 1e-5
    fd = (jax.vmap(lambda x: loss(eigh, x))(a + h * d) - jax.vmap(lambda x: loss(eigh, x))(a - h * d)) / (2 * h)
    np.testing.assert_allclose(jvp, fd, rtol=1e-6, atol=1e-8)


def test_one_square_matrix_only():
    with pytest.raises(ValueError, match="one square matrix"):
        eigh(jnp.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="one square matrix"):
        eigvalsh(jnp.zeros((3, 4)))

