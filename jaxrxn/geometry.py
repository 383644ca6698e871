"""Geometry on configurations and paths: displacements, alignment, lengths, rigid-body modes.

Shapes: a configuration ``R`` is ``(n_atoms, dim)`` in Å; a path is
``(n_images, n_atoms, dim)``. A cell is ``(dim, dim)`` with lattice vectors as rows (ASE's
convention) and ``pbc`` a boolean ``(dim,)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Scalar


def minimum_image(
    d: Float[Array, "... dim"],
    cell: Float[Array, "dim dim"] | None = None,
    pbc: Bool[Array, " dim"] | None = None,
) -> Float[Array, "... dim"]:
    """Map displacement vectors ``d`` (Å) to their minimum image.

    `cell` rows are lattice vectors (Å), `pbc` per-axis booleans (default all periodic).
    Only periodic rows are lattice translations: the rows of non-periodic axes may be zero
    (an ASE slab's vacuum axis) or anything else. Fractional coordinates are taken in the
    dual basis of the periodic rows and rounded, which is exact when every periodic cell
    width exceeds twice the largest displacement of interest (see
    :func:`jaxrxn.validation.check_box`). With ``cell=None`` (free space) ``d`` is returned
    unchanged. Differentiable in `cell` (stress).
    """
    if cell is None:
        return d
    d = jnp.asarray(d)
    cell = jnp.asarray(cell, d.dtype)
    pbc = jnp.ones(cell.shape[0], bool) if pbc is None else jnp.asarray(pbc, bool)
    lattice = jnp.where(pbc[:, None], cell, 0.0)
    # Gram matrix of the periodic rows, with 1 on the diagonal of the others so that it is
    # invertible: (d A^T) G^-1 are then the dual-basis coordinates along periodic axes and 0
    # along the others, without an SVD.
    gram = lattice @ lattice.T + jnp.diag((~pbc).astype(d.dtype))
    frac = (d @ lattice.T) @ jnp.linalg.inv(gram)
    return d - jnp.round(frac) @ lattice


def minimum_image_components(
    d: list[Float[Array, "..."]],
    cell: Float[Array, "dim dim"] | None,
    pbc: Bool[Array, " dim"] | None,
) -> list[Float[Array, "..."]]:
    """:func:`minimum_image` of displacements given as their `dim` Cartesian components
    (Å), for a full-rank `cell` (a :class:`jaxrxn.System`'s, completed). Written with
    elementwise products, which XLA fuses with whatever consumes the result, instead of a
    ``(..., 3) @ (3, 3)`` contraction per pair: on CPU that is ~10x faster for the
    ``(n_atoms, capacity)`` layout of neighbour lists."""
    if cell is None:
        return d
    dim = len(d)
    cell = cell.astype(d[0].dtype)
    inv = jnp.linalg.inv(cell)
    k = [jnp.where(pbc[b], jnp.round(sum(d[a] * inv[a, b] for a in range(dim))), 0.0) for b in range(dim)]
    return [d[c] - sum(k[b] * cell[b, c] for b in range(dim)) for c in range(dim)]


def cell_widths(cell: Float[Array, "dim dim"] | np.ndarray) -> Float[Array, " dim"]:
    """Perpendicular widths ``(dim,)`` (Å) of a cell with lattice vectors as rows: the
    distance between the two faces spanned by the other vectors, ``1 / |column k of
    cell^-1|``. A cell given as lengths ``(dim,)`` (orthorhombic) is returned as is.
    NumPy in, NumPy out (host-side checks); JAX arrays and tracers stay JAX."""
    xp = np if isinstance(cell, (np.ndarray, list, tuple, float, int)) else jnp
    cell = xp.asarray(cell)
    if cell.ndim == 1:
        return cell
    return 1.0 / xp.linalg.norm(xp.linalg.inv(cell), axis=0)


def complete_cell(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """The cell ``(dim, dim)`` (rows, Å) with non-periodic rows that make it singular (an
    ASE slab often leaves them zero) replaced by an orthonormal completion of the periodic
    rows; their length never matters. A non-singular cell is returned unchanged. Host side
    (NumPy): raises ``ValueError`` if the periodic rows are dependent or zero."""
    cell = np.asarray(cell, float)
    pbc = np.asarray(pbc, bool)
    if abs(np.linalg.det(cell)) > 1e-12 * max(1.0, np.abs(cell).max()) ** cell.shape[0]:
        return cell
    periodic = cell[pbc]
    _, sv, vt = np.linalg.svd(periodic)
    if len(sv) == 0 or np.min(sv) < 1e-8 * np.max(sv):
        raise ValueError("the periodic cell vectors are linearly dependent or zero.")
    cell = cell.copy()
    cell[~pbc] = vt[len(periodic) :]
    return cell


def canonical_cell(cell, pbc=None, dim: int | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The one canonical form of a periodic cell, host side: ``(cell, pbc)`` with `cell`
    ``(dim, dim)`` lattice vectors as rows (Å; lengths ``(dim,)`` become an orthorhombic
    cell, a larger matrix is cut to its leading ``dim`` block) completed by
    :func:`complete_cell`, and `pbc` ``(dim,)`` booleans (default all periodic). A cell
    that is ``None`` or periodic along no axis gives ``(None, None)``."""
    if cell is None:
        return None, None
    cell = np.asarray(cell, float)
    dim = cell.shape[0] if dim is None else dim
    cell = np.diag(cell[:dim]) if cell.ndim == 1 else cell.reshape(cell.shape[0], -1)[:dim, :dim]
    pbc = np.ones(dim, bool) if pbc is None else np.broadcast_to(np.asarray(pbc, bool).reshape(-1)[:dim], (dim,))
    if not pbc.any():
        return None, None
    return complete_cell(cell, pbc), pbc.copy()


def displacement(R_a, R_b, cell=None, pbc=None):
    """Minimum-image displacement ``R_a - R_b`` (Å), same shape as the inputs."""
    return minimum_image(R_a - R_b, cell, pbc)


def path_segment_lengths(path: Float[Array, "n_images n_atoms dim"], cell=None, pbc=None):
    """Euclidean length of each segment between consecutive images, ``(n_images-1,)`` Å."""
    d = displacement(path[1:], path[:-1], cell, pbc)
    return jnp.sqrt(jnp.sum(d**2, axis=(-2, -1)))


def path_length(path, cell=None, pbc=None) -> Scalar:
    """Total length (Å) of a path in the full configuration space."""
    return jnp.sum(path_segment_lengths(path, cell, pbc))


def arc_length(path, cell=None, pbc=None) -> Float[Array, " n_images"]:
    """Cumulative arc length at each image, starting at 0 (Å)."""
    seg = path_segment_lengths(path, cell, pbc)
    return jnp.concatenate([jnp.zeros(1, seg.dtype), jnp.cumsum(seg)])


def mass_weight(R: Float[Array, "n_atoms dim"], masses: Float[Array, " n_atoms"]):
    """Mass-weighted coordinates ``sqrt(m) R`` (Å amu^1/2)."""
    return R * jnp.sqrt(masses)[:, None]


def kabsch(
    P: Float[Array, "n_atoms dim"],
    Q: Float[Array, "n_atoms dim"],
    weights: Float[Array, " n_atoms"] | None = None,
    atom_mask: Bool[Array, " n_atoms"] | None = None,
) -> tuple[Float[Array, "dim dim"], Float[Array, " dim"]]:
    """Rotation ``U`` and translation ``t`` minimising ``|P U + t - Q|`` (proper rotation).

    W. Kabsch, Acta Cryst. A32, 922 (1976). Works in any dimension; reflections are
    excluded by the sign correction of the last singular vector. Atoms outside
    `atom_mask` (padding, ``False``) take no part, whatever their positions.
    """
    w = _masked_weights(weights, atom_mask, P)
    w = w / jnp.sum(w)
    p0, q0 = w @ P, w @ Q
    Pc, Qc = P - p0, Q - q0
    C = (Pc * w[:, None]).T @ Qc
    V, _, Wt = jnp.linalg.svd(C)
    d = jnp.sign(jnp.linalg.det(V @ Wt))
    D = jnp.ones(P.shape[1], P.dtype).at[-1].set(d)
    U = (V * D) @ Wt
    return U, q0 - p0 @ U


def _masked_weights(weights, atom_mask, R) -> Float[Array, " n_atoms"]:
    """Per-atom weights ``(n_atoms,)`` (ones by default), zero outside `atom_mask`."""
    w = jnp.ones(R.shape[0], R.dtype) if weights is None else jnp.asarray(weights, R.dtype)
    return w if atom_mask is None else w * jnp.asarray(atom_mask, R.dtype)


def kabsch_rotation_numpy(P: np.ndarray, Q: np.ndarray, mirror: bool = False) -> np.ndarray:
    """The proper rotation of :func:`kabsch` (equal weights) in NumPy, for host-side loops
    over many small structures (deduplication, data-set building) where a JAX dispatch per
    pair would dominate: ``(P - p0) U ~ Q - q0``. With `mirror`, the best improper one
    (``det U = -1``: a rotation times a reflection, mapping `P`'s mirror image)."""
    Pc, Qc = P - P.mean(0), Q - Q.mean(0)
    V, _, Wt = np.linalg.svd(Pc.T @ Qc)
    D = np.ones(P.shape[1])
    D[-1] = np.sign(np.linalg.det(V @ Wt)) * (-1.0 if mirror else 1.0)
    return (V * D) @ Wt


def rmsd_numpy(P: np.ndarray, Q: np.ndarray, mirror: bool = False) -> float:
    """NumPy :func:`rmsd` after Kabsch alignment (see :func:`kabsch_rotation_numpy`; with
    `mirror`, of `P`'s mirror image)."""
    U = kabsch_rotation_numpy(P, Q, mirror)
    return float(np.sqrt(np.mean(np.sum(((P - P.mean(0)) @ U - (Q - Q.mean(0))) ** 2, -1))))


def rmsd_up_to_symmetry(P: np.ndarray, Q: np.ndarray, numbers, max_rounds: int = 50) -> float:
    """RMSD (Å) of `P` onto `Q`, ``(n_atoms, 3)``, also over `P`'s mirror image and over
    renumberings of like atoms (atomic `numbers` ``(n_atoms,)``): two searches that reach
    one transition state may return it with its hydrogens numbered otherwise, or as its
    enantiomer (the same energy, between mirror-image end states or achiral ones).

    From each start (the given numbering, proper and mirrored; the 8 sign choices mapping
    `P`'s principal axes onto `Q`'s), alternates the Kabsch fit of that handedness and the
    assignment of like atoms that minimises the squared distances (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``) until the assignment stops changing; the
    smallest RMSD met. A local search from those starts, not an exhaustive one: exact for
    structures near a renumbered or mirrored copy of each other (what it is for). Never
    above :func:`rmsd_numpy`."""
    from scipy.optimize import linear_sum_assignment

    P, Q = np.asarray(P, float), np.asarray(Q, float)
    numbers = np.asarray(numbers)
    if P.shape != Q.shape or P.shape[1:] != (3,) or numbers.shape != P.shape[:1]:
        raise ValueError(f"rmsd_up_to_symmetry: P {P.shape} and Q {Q.shape} must both be (n_atoms, 3), numbers {numbers.shape} (n_atoms,).")
    Pc, Qc = P - P.mean(0), Q - Q.mean(0)
    groups = [np.flatnonzero(numbers == z) for z in np.unique(numbers)]
    axes_P, axes_Q = (_principal_axes(X, np.ones(len(X)))[2] for X in (Pc, Qc))
    signs = np.array([[a, b, c] for a in (1, -1) for b in (1, -1) for c in (1, -1)], float)

    def assigned(moved: np.ndarray, order: np.ndarray) -> np.ndarray:
        new = order.copy()
        for idx in groups:
            rows, cols = linear_sum_assignment(np.sum((moved[idx][:, None] - Qc[idx][None]) ** 2, -1))
            new[idx[cols]] = order[idx[rows]]
        return new

    identity = np.arange(len(P))
    # (handedness, first numbering): the given one both ways, then each principal-axes map's
    starts = [(False, identity), (True, identity)]
    starts += [(bool(np.linalg.det(U) < 0), assigned(Pc @ U, identity)) for U in ((axes_P * s) @ axes_Q.T for s in signs)]
    best = np.inf
    for mirror, order in starts:
        for _ in range(max_rounds):
            best = min(best, rmsd_numpy(P[order], Q, mirror))
            new = assigned((P[order] - P[order].mean(0)) @ kabsch_rotation_numpy(P[order], Q, mirror), order)
            if np.array_equal(new, order):
                break
            order = new
    return float(best)


def align(P, Q, weights=None, atom_mask=None):
    """``P`` rigidly rotated and translated onto ``Q`` (Kabsch); atoms outside `atom_mask`
    (padding) neither steer the fit nor move."""
    U, t = kabsch(P, Q, weights, atom_mask)
    moved = P @ U + t
    return moved if atom_mask is None else jnp.where(jnp.asarray(atom_mask)[:, None], moved, P)


def rmsd(P, Q, *, align_first: bool = True, weights=None, atom_mask=None) -> Scalar:
    """Root-mean-square deviation (Å) between two configurations, after alignment by
    default; over the atoms of `atom_mask` only (padding excluded) when given."""
    if align_first:
        P = align(P, Q, weights, atom_mask)
    real = _masked_weights(None, atom_mask, P)
    return jnp.sqrt(jnp.sum(real * jnp.sum((P - Q) ** 2, axis=-1)) / jnp.sum(real))


def rigid_body_modes(
    R: Float[Array, "n_atoms dim"],
    masses: Float[Array, " n_atoms"] | None = None,
    *,
    rotations: bool = True,
    atom_mask: Bool[Array, " n_atoms"] | None = None,
    tol: float = 1e-8,
) -> Float[Array, "n_modes n_dof"]:
    """Orthonormal rigid-body translation (and rotation) vectors of ``R``.

    Returns ``(n_modes, n_atoms*dim)`` rows in mass-weighted coordinates when ``masses``
    is given (Cartesian otherwise): ``dim`` translations plus ``dim(dim-1)/2`` rotations
    (1 in 2D, 3 in 3D). Rows that vanish (rotations of a linear molecule, rotations of a
    single atom) are returned as zeros, so the shape is fixed under ``jit``.
    Use ``rotations=False`` for periodic systems, where only translations are free.
    Atoms outside `atom_mask` (padding, ``False``) are not part of the body: the modes are
    zero on them and the centre of mass ignores them, so a padded structure has the modes
    of the unpadded one (padded with zeros).
    """
    n, dim = R.shape
    m = _masked_weights(masses, atom_mask, R)
    sm = jnp.sqrt(m)[:, None]
    vecs = [jnp.zeros((n, dim), R.dtype).at[:, a].set(1.0) * sm for a in range(dim)]
    if rotations:
        com = (m @ R) / jnp.sum(m)
        X = R - com
        for a in range(dim):
            for b in range(a + 1, dim):
                v = jnp.zeros((n, dim), R.dtype).at[:, a].set(-X[:, b]).at[:, b].set(X[:, a])
                vecs.append(v * sm)
    B = jnp.stack([v.reshape(-1) for v in vecs])
    # Gram-Schmidt with a fixed number of rows; a dependent row becomes exactly zero.
    out = []
    for v in B:
        for u in out:
            v = v - (v @ u) * u
        norm = jnp.linalg.norm(v)
        keep = norm > tol * jnp.maximum(1.0, jnp.linalg.norm(B))
        out.append(jnp.where(keep, v / jnp.where(keep, norm, 1.0), 0.0))
    return jnp.stack(out)


def rigid_body_projector(
    R, masses=None, *, rotations: bool = True, atom_mask=None
) -> Float[Array, "n_dof n_dof"]:
    """Projector ``I - sum_k v_k v_k^T`` that removes rigid-body motion (see
    :func:`rigid_body_modes`)."""
    V = rigid_body_modes(R, masses, rotations=rotations, atom_mask=atom_mask)
    return jnp.eye(R.size, dtype=R.dtype) - V.T @ V


def center_of_mass(R, masses=None):
    m = jnp.ones(R.shape[0], R.dtype) if masses is None else jnp.asarray(masses, R.dtype)
    return (m @ R) / jnp.sum(m)


# Kabsch over a batch of frames is a common need (path alignment).
align_batch = jax.vmap(align, in_axes=(0, 0, None))


#: A molecule is linear when its smallest principal moment of inertia is below
#: ``LINEAR_TOL**2`` times its largest: one end of HCN, CO2 or HCCH bent by 0.6-0.7° is
#: the limit, far beyond what a relaxation leaves (HCN relaxed with GFN2-xTB to 0.01 eV/Å:
#: 0.007°). :func:`jaxrxn.vibrations.vibrations` projects out the rotations of that line:
#: counted as bent, the axial rotation would take the place of a bend, and the zero-point
#: energy would lack its quantum (0.048 eV for HCN).
LINEAR_TOL = 3e-3


def _principal_axes(R: np.ndarray, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre of mass ``(3,)``, principal moments (amu Å², ascending) and axes (columns)."""
    com = masses @ R / masses.sum()
    X = R - com
    second = np.einsum("i,ij,ik->jk", masses, X, X)  # sum of m x x^T
    moments, axes = np.linalg.eigh(np.trace(second) * np.eye(3) - second)
    return com, moments, axes


def is_linear(R, masses, tol: float = LINEAR_TOL) -> bool:
    """Whether atoms ``(n, 3)`` (Å) of `masses` (amu) lie within `tol` of a straight line:
    the smallest principal moment of inertia below ``tol**2`` times the largest (two or
    more atoms)."""
    R, masses = np.asarray(R, float), np.asarray(masses, float)
    if R.shape[0] < 2 or R.shape[1] != 3:
        return False
    _, moments, _ = _principal_axes(R, masses)
    return bool(moments[0] <= tol**2 * moments[-1])


def onto_line(R, masses) -> np.ndarray:
    """Atoms ``(n, 3)`` (Å) moved onto the line through their centre of mass along the
    axis of least inertia: the straight molecule a near-linear one stands for."""
    R, masses = np.asarray(R, float), np.asarray(masses, float)
    com, _, axes = _principal_axes(R, masses)
    axis = axes[:, 0]
    return com + np.outer((R - com) @ axis, axis)
