"""Redundant internal coordinates for saddle searches on molecules.

A molecule's energy is far closer to quadratic in bond lengths, bond angles and torsions
than in Cartesians, so a quasi-Newton search on an approximate Hessian takes fewer and
safer steps in them. Following P. Pulay & G. Fogarasi (J. Chem. Phys. 96, 2856 (1992)),
C. Peng, P. Y. Ayala, H. B. Schlegel & M. J. Frisch (J. Comput. Chem. 17, 49 (1996)) and
V. Bakken & T. Helgaker (J. Chem. Phys. 117, 9160 (2002)):

- the primitive set (:func:`redundant_internals`, built once on the host from a geometry):
  bonds from covalent radii, with the closest pair of atoms joining separate fragments
  until the molecule is one graph; bends at every atom between pairs of its bonded
  neighbours; a bend within ``linear_deg`` of 180 degrees replaced by Bakken-Helgaker's
  pair of linear bends; proper torsions around every bond; improper torsions and, as a
  last resort, Cartesian coordinates of atoms when the set does not yet span every
  internal motion;
- the Wilson B-matrix ``dq/dx`` by forward-mode autodiff of the primitives, with rigid
  translations and rotations projected out of its rows;
- the active (non-redundant) space: the ``n_active = 3 n_atoms - 6`` (``- 5`` if linear)
  left singular vectors of ``B`` with the largest singular values; gradients transform as
  ``g_q = (B^+)^T g_x``, steps go back to Cartesians iteratively
  (:func:`back_transform`: ``x <- x + B^+ (q_target - q(x))``, Peng et al. 1996, sec. 2).

Lengths are Å, angles radians. Everything but :func:`redundant_internals` is pure JAX
(jit/vmap/grad); the index arrays are pytree leaves of :class:`InternalCoordinates`, and
:func:`padded_internals` pads them to lengths set by the atom count, so a new molecule of
the same size, or a new start on the same one, reuses a compiled search.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int


def _safe_norm(x: Array, axis: int = -1) -> Array:
    return jnp.sqrt(jnp.sum(x**2, axis=axis) + 1e-30)


def bond_length(X: Float[Array, "2 3"]) -> Float[Array, ""]:
    """Distance between two atoms, Å."""
    return _safe_norm(X[0] - X[1])


def bend_angle(X: Float[Array, "3 3"]) -> Float[Array, ""]:
    """Angle ``X0-X1-X2`` at ``X1``, radians in ``[0, pi]`` (``arctan2``, accurate near 0 and pi)."""
    u, v = X[0] - X[1], X[2] - X[1]
    return jnp.arctan2(_safe_norm(jnp.cross(u, v)), u @ v)


def torsion_angle(X: Float[Array, "4 3"]) -> Float[Array, ""]:
    """Dihedral ``X0-X1-X2-X3``, radians in ``(-pi, pi]`` (IUPAC sign)."""
    b1, b2, b3 = X[1] - X[0], X[2] - X[1], X[3] - X[2]
    n1, n2 = jnp.cross(b1, b2), jnp.cross(b2, b3)
    m1 = jnp.cross(n1, b2 / _safe_norm(b2))
    return jnp.arctan2(m1 @ n2, n1 @ n2)


def torsion_defined(X: Float[Array, "4 3"], min_sin2: float = 2e-3) -> Float[Array, ""]:
    """False where either bend of the torsion is within ~2.6 degrees of linear: the torsion
    is then undefined and its B-matrix row blows up."""
    b1, b2, b3 = X[1] - X[0], X[2] - X[1], X[3] - X[2]
    s1 = jnp.sum(jnp.cross(b1, b2) ** 2) / (jnp.sum(b1**2) * jnp.sum(b2**2))
    s2 = jnp.sum(jnp.cross(b2, b3) ** 2) / (jnp.sum(b2**2) * jnp.sum(b3**2))
    return (s1 > min_sin2) & (s2 > min_sin2)


def linear_bend(X: Float[Array, "3 3"], w: Float[Array, " 3"]) -> Float[Array, ""]:
    """Bakken & Helgaker's linear bend (2002, eq. 7): ``angle(u, w) + angle(w, v)`` with
    ``u = X0 - X1``, ``v = X2 - X1`` and ``w`` a fixed unit vector orthogonal to the axis.
    It equals pi at the linear geometry and, unlike the bend angle, has a finite, nonzero
    derivative there; two of them (``w`` and ``axis x w``) describe the bend."""
    u, v = X[0] - X[1], X[2] - X[1]
    cu = jnp.clip(u @ w / _safe_norm(u), -1.0, 1.0)
    cv = jnp.clip(v @ w / _safe_norm(v), -1.0, 1.0)
    return jnp.arccos(cu) + jnp.arccos(cv)


class InternalCoordinates(eqx.Module):
    """A set of primitive internal coordinates of one molecule (see the module docstring).

    Build it with :func:`redundant_internals` (and pad it with :func:`padded_internals`).
    Primitives are ordered bonds, bends, linear bends (two per triple), torsions (proper,
    then improper), Cartesian coordinates; ``n_primitives`` of them, of which ``n_active``
    are independent; ``real`` is ``False`` on padding (``None``: nothing padded).
    """

    bonds: Int[Array, "n_bonds 2"]
    bends: Int[Array, "n_bends 3"]
    linear: Int[Array, "n_linear 3"]
    linear_axes: Float[Array, "n_linear 2 3"]  # the two fixed unit vectors w of each linear bend
    torsions: Int[Array, "n_torsions 4"]
    cartesian: Int[Array, " n_cartesian"]  # atoms whose x, y, z are primitives
    n_active: int = eqx.field(static=True)
    # which primitives are real; the others pad the lists to a size-fixed length
    # (:func:`padded_internals`) and read as 0 with a zero B row
    real: Bool[Array, " n_primitives"] | None = None

    @property
    def n_primitives(self) -> int:
        return (
            len(self.bonds) + len(self.bends) + 2 * len(self.linear) + len(self.torsions) + 3 * len(self.cartesian)
        )

    def _torsion_rows(self) -> np.ndarray:
        start = len(self.bonds) + len(self.bends) + 2 * len(self.linear)
        mask = np.zeros(self.n_primitives, bool)
        mask[start : start + len(self.torsions)] = True
        return mask

    def values(self, R: Float[Array, "n_atoms 3"]) -> Float[Array, " n_primitives"]:
        """The primitives at ``R`` (Å, radians)."""
        parts = [
            jax.vmap(bond_length)(R[self.bonds]),
            jax.vmap(bend_angle)(R[self.bends]),
            jax.vmap(lambda X, W: jax.vmap(lambda w: linear_bend(X, w))(W))(R[self.linear], self.linear_axes).reshape(-1),
            jax.vmap(torsion_angle)(R[self.torsions]),
            R[self.cartesian].reshape(-1),
        ]
        q = jnp.concatenate([p.astype(R.dtype) for p in parts])
        return q if self.real is None else jnp.where(self.real, q, 0.0)

    def difference(self, q1: Float[Array, " n_primitives"], q0: Float[Array, " n_primitives"]) -> Float[Array, " n_primitives"]:
        """``q1 - q0`` with torsion differences wrapped into ``(-pi, pi]``."""
        d = q1 - q0
        wrapped = d - 2 * jnp.pi * jnp.round(d / (2 * jnp.pi))
        return jnp.where(jnp.asarray(self._torsion_rows()), wrapped, d)

    def wilson_b(self, R: Float[Array, "n_atoms 3"]) -> Float[Array, "n_primitives n_dof"]:
        """Wilson's B-matrix ``dq/dx`` (forward-mode autodiff), rows of undefined torsions
        (a bend gone linear) set to zero."""
        B = jax.jacfwd(self.values)(R).reshape(self.n_primitives, -1)
        ok = jnp.concatenate(
            [
                jnp.ones(len(self.bonds) + len(self.bends) + 2 * len(self.linear), bool),
                jax.vmap(torsion_defined)(R[self.torsions]),
                jnp.ones(3 * len(self.cartesian), bool),
            ]
        )
        return jnp.where(ok[:, None] & jnp.isfinite(B), B, 0.0)


def active_space(
    coords: InternalCoordinates, R: Float[Array, "n_atoms 3"], removed: Float[Array, "n_removed n_dof"]
) -> tuple[Float[Array, "n_primitives n_active"], Float[Array, " n_active"], Float[Array, "n_active n_dof"]]:
    """``(U, s, Vt)``: the ``n_active`` leading singular triplets of ``B P``, with
    ``P = 1 - removed^T removed`` the projector off rigid motions (``removed`` orthonormal
    or zero rows, e.g. :func:`jaxrxn.saddle.index.removed_directions`).

    ``U`` spans the non-redundant internal displacements; the generalized inverse is
    ``B^+ = Vt^T diag(1/s) U^T``; an internal gradient is ``(B^+)^T g_x = U (Vt g_x / s)``.
    Singular values below ``1e-4`` of the largest are returned as ``inf`` (dropped).
    """
    B = coords.wilson_b(R)
    B = B - (B @ removed.T) @ removed
    U, s, Vt = jnp.linalg.svd(B, full_matrices=False)
    m = coords.n_active
    # a direction the primitives stopped describing (a bend collapsed to 0 or pi) is left
    # out of the inverse (infinite s) instead of being divided by ~0
    s = jnp.where(s[:m] > 1e-4 * s[0], s[:m], jnp.inf)
    return U[:, :m], s, Vt[:m]


def back_transform(
    coords: InternalCoordinates,
    R: Float[Array, "n_atoms 3"],
    dq: Float[Array, " n_primitives"],
    removed: Float[Array, "n_removed n_dof"],
    max_iter: int = 25,
    tol: float = 1e-7,
) -> Float[Array, "n_atoms 3"]:
    """Cartesians whose primitives are closest to ``q(R) + dq`` (Å).

    Iterates ``x <- x + B^+(x) (q_target - q(x))`` (Peng et al. 1996) until the Cartesian
    update falls below `tol` (Å, root mean square) or `max_iter` iterations. With redundant
    primitives the target is usually not exactly reachable and the iteration ends at the
    least-squares point. If it ends farther from the target than the first iterate (it
    diverged: a large step near a linear bend or across a torsion singularity), the first
    iterate, the linear step ``B^+ dq``, is returned.
    """
    q_target = coords.values(R) + dq

    def update(x):
        U, s, Vt = active_space(coords, x, removed)
        r = coords.difference(q_target, coords.values(x))
        return x + (Vt.T @ ((U.T @ r) / s)).reshape(x.shape)

    def residual(x):
        return jnp.linalg.norm(coords.difference(q_target, coords.values(x)))

    x1 = update(R)

    def body(c):
        x, _, k = c
        x_new = update(x)
        return x_new, jnp.sqrt(jnp.mean((x_new - x) ** 2)), k + 1

    def cond(c):
        _, change, k = c
        return (change > tol) & (k < max_iter)  # a NaN change stops it too

    x, _, _ = lax.while_loop(cond, body, (x1, jnp.array(jnp.inf, R.dtype), jnp.array(1)))
    better = jnp.all(jnp.isfinite(x)) & (residual(x) <= residual(x1))
    return jnp.where(better, x, x1)


def _rigid_rank(R: np.ndarray) -> int:
    X = R - R.mean(0)
    rows = [np.tile(e, len(R)) for e in np.eye(3)] + [np.cross(e, X).reshape(-1) for e in np.eye(3)]
    s = np.linalg.svd(np.array(rows), compute_uv=False)
    return int(np.sum(s > 1e-6 * s.max()))


def _components(n: int, adj: np.ndarray) -> np.ndarray:
    label = -np.ones(n, int)
    for seed in range(n):
        if label[seed] >= 0:
            continue
        stack, label[seed] = [seed], seed
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(adj[i]):
                if label[j] < 0:
                    label[j] = seed
                    stack.append(j)
    return label


def redundant_internals(
    numbers: Sequence[int],
    R: Float[Array, "n_atoms 3"],
    *,
    bond_scale: float = 1.3,
    linear_deg: float = 175.0,
    near_linear_deg: float = 150.0,
    weld_tol: float | None = None,
    in_flight: bool = False,
) -> InternalCoordinates:
    """The redundant primitive set of a molecule at geometry ``R`` (Å) (host-side NumPy).

    - bonds: pairs closer than ``bond_scale (r_cov,i + r_cov,j)`` (ASE's covalent radii);
      separate fragments are joined by their closest pair of atoms, repeatedly; with
      ``weld_tol``, also by every other pair of the same two fragments within ``1 + weld_tol``
      times that distance (Sella 2.6's welding of fragments, tolerance 0.15 there; E. D.
      Hermes et al., J. Chem. Theory Comput. 18, 6974 (2022)), so a symmetric guess such as
      a Diels-Alder pair keeps its symmetry in the coordinate set; with ``in_flight``, an
      atom bonded to nothing at ``R`` (``n_atoms > 2``; a hydrogen being transferred) is
      also joined to its two nearest atoms, so its position is held by its distances to
      donor and acceptor rather than by one distance and bends through the nearer one
      (Baker's HCN -> HNC guess: H 1.59 Å from N, 1.96 Å from C; with the N-H contact alone,
      following the lowest mode dissociates the H);
    - bends ``i-j-k`` for bonded ``i-j``, ``j-k``; those above `linear_deg` become two
      linear bends (Bakken & Helgaker 2002) with axes orthogonal to ``R_k - R_i``; those
      above `near_linear_deg` get the two linear bends as well, so that the set still
      describes them if the search straightens them (the bend's own B row vanishes at pi);
    - proper torsions ``i-j-k-l`` around each bond ``j-k`` whose two bends are not linear;
    - if ``B`` (rigid motions projected out) does not yet have rank ``3 n - 6`` (``3 n - 5``
      for a linear molecule), improper torsions at atoms with three or more neighbours
      (planar centres, whose out-of-plane motion nothing else describes), then Cartesian
      coordinates of atoms, one at a time, until it does.
    """
    from ase.data import covalent_radii

    numbers = np.asarray(numbers)
    X = np.asarray(R, float)
    n = len(X)
    d = np.linalg.norm(X[:, None] - X[None], axis=-1)
    adj = d < bond_scale * (covalent_radii[numbers][:, None] + covalent_radii[numbers][None])
    np.fill_diagonal(adj, False)
    alone = ~adj.any(axis=1) if n > 2 else np.zeros(n, bool)
    while True:
        label = _components(n, adj)
        if len(set(label)) <= 1:
            break
        between = np.where(label[:, None] != label[None], d, np.inf)
        i, j = np.unravel_index(np.argmin(between), between.shape)
        adj[i, j] = adj[j, i] = True
        if weld_tol is not None:
            # every contact of these two fragments nearly as short as the closest one: the
            # set keeps the guess's symmetry instead of breaking ties by atom index
            pair = (label[:, None] == label[i]) & (label[None] == label[j])
            near = (pair | pair.T) & (d <= (1.0 + weld_tol) * d[i, j])
            adj |= near
    if in_flight:
        # an atom bonded to nothing (a hydrogen being transferred) is placed by its distances
        # to donor and acceptor, not by one distance and angles through its nearest atom
        for i in np.flatnonzero(alone):
            j, k = np.argsort(np.where(np.arange(n) == i, np.inf, d[i]))[:2]
            adj[i, [j, k]] = adj[[j, k], i] = True
    bonds = [(i, j) for i, j in itertools.combinations(range(n), 2) if adj[i, j]]

    def angle(i, j, k):
        u, v = X[i] - X[j], X[k] - X[j]
        return np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))

    bends, linear, axes = [], [], []
    for j in range(n):
        for i, k in itertools.combinations(np.flatnonzero(adj[j]), 2):
            if angle(i, j, k) < linear_deg:
                bends.append((i, j, k))
            if angle(i, j, k) < near_linear_deg:
                continue
            a = (X[k] - X[i]) / np.linalg.norm(X[k] - X[i])
            e = np.eye(3)[np.argmin(np.abs(a))]
            w1 = e - (e @ a) * a
            w1 /= np.linalg.norm(w1)
            linear.append((i, j, k))
            axes.append((w1, np.cross(a, w1)))
    straight = lambda i, j, k: angle(i, j, k) >= linear_deg  # noqa: E731
    torsions = [
        (i, j, k, l)
        for j, k in bonds
        for i in np.flatnonzero(adj[j])
        for l in np.flatnonzero(adj[k])
        if len({i, j, k, l}) == 4 and not straight(i, j, k) and not straight(j, k, l)
    ]
    n_active = 3 * n - _rigid_rank(X) if n > 1 else 0

    def build(torsions, cartesian):
        return InternalCoordinates(
            jnp.asarray(np.reshape(bonds, (-1, 2)), jnp.int32),
            jnp.asarray(np.reshape(bends, (-1, 3)), jnp.int32),
            jnp.asarray(np.reshape(linear, (-1, 3)), jnp.int32),
            jnp.asarray(np.reshape(axes, (-1, 2, 3)), jnp.float64 if jax.config.jax_enable_x64 else jnp.float32),
            jnp.asarray(np.reshape(torsions, (-1, 4)), jnp.int32),
            jnp.asarray(np.asarray(cartesian, int), jnp.int32),
            n_active,
        )

    def rank(c):
        U, s, Vt = np.linalg.svd(_projected_b(c, X), full_matrices=False)
        return int(np.sum(s > 1e-6 * max(s.max(initial=0.0), 1.0)))

    coords = build(torsions, [])
    if rank(coords) < n_active:
        impropers = [
            (i, j, k, l)
            for j in range(n)
            for i, k, l in itertools.combinations(np.flatnonzero(adj[j]), 3)
            if not straight(i, j, k) and not straight(j, k, l)
        ]
        for t in impropers:
            trial = build(torsions + [t], [])
            if rank(trial) > rank(coords):
                torsions, coords = torsions + [t], trial
    cartesian: list[int] = []
    for atom in range(n):
        if rank(coords) >= n_active:
            break
        cartesian.append(atom)
        coords = build(torsions, cartesian)
    return coords


def padded_internals(coords: InternalCoordinates, n_atoms: int) -> InternalCoordinates:
    """`coords` with each primitive list padded to a length fixed by the atom count ``N``
    (bonds ``2N``, bends ``4N``, linear bends 4, torsions ``8N``; the next power of two if a
    list is longer) by repeats of its first entry (an empty list: of a stand-in on the first
    atoms), marked not real (``real``): they read as 0 and have zero B rows, so the active
    space, the model Hessian's action on it and every step are those of `coords` (to
    rounding).

    A saddle search compiles for its primitive counts: padded, one compilation serves the
    molecules of a size and the attempts on one molecule (a guess, then a climbing image,
    with other bonds), where each new count cost a compilation of 25-45 s on GFN2-xTB
    molecules of 7-11 atoms, against a second or less for the search itself (2026-12-05).
    """
    if coords.real is not None:
        raise ValueError("these internal coordinates are padded already.")

    def pad(a, quota, dummy):
        a = np.asarray(a)
        n = len(a)
        size = max(quota, 1 << (n - 1).bit_length()) if n else quota
        a = a if n else np.asarray(dummy, a.dtype)[None]  # an empty list gets a finite stand-in
        return a[np.r_[np.arange(n), np.zeros(size - n, int)]], np.arange(size) < n

    atoms = lambda k: np.arange(k) % n_atoms  # noqa: E731
    bonds, b = pad(coords.bonds, 2 * n_atoms, atoms(2))
    bends, a = pad(coords.bends, 4 * n_atoms, atoms(3))
    linear, l = pad(coords.linear, 4, atoms(3))
    axes, _ = pad(coords.linear_axes, 4, np.eye(3)[:2])
    torsions, t = pad(coords.torsions, 8 * n_atoms, atoms(4))
    real = np.concatenate([b, a, np.repeat(l, 2), t, np.ones(3 * len(coords.cartesian), bool)])
    return InternalCoordinates(
        jnp.asarray(bonds, jnp.int32), jnp.asarray(bends, jnp.int32), jnp.asarray(linear, jnp.int32),
        jnp.asarray(axes, coords.linear_axes.dtype), jnp.asarray(torsions, jnp.int32), coords.cartesian, coords.n_active,
        jnp.asarray(real),
    )  # fmt: skip


# one compilation per atom count (the primitives padded) instead of one per operation and
# shape in eager mode, or one per trial set of the builder's rank tests
_wilson_b = eqx.filter_jit(lambda coords, X: coords.wilson_b(X))


def _projected_b(coords: InternalCoordinates, X: np.ndarray) -> np.ndarray:
    """B with rigid motions projected out, in NumPy (for the rank tests of the builder)."""
    B = np.asarray(_wilson_b(padded_internals(coords, len(X)), jnp.asarray(X)))  # padding rows are zero
    Xc = X - X.mean(0)
    rows = [np.tile(e, len(X)) for e in np.eye(3)] + [np.cross(e, Xc).reshape(-1) for e in np.eye(3)]
    Q, s, _ = np.linalg.svd(np.array(rows).T, full_matrices=False)
    Q = Q[:, s > 1e-8 * s.max()]
    return B - (B @ Q) @ Q.T
