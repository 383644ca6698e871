"""Geodesic interpolation (Zhu, Thompson & Martinez, JCP 150, 164103 (2019)) against the
authors' package ``geodesic-interpolate`` on three small reactions of the Birkholz & Schlegel
set (JCC 36, 1157 (2015), reactant and product as in shared/data/reaction_sets/birkholz_rx/).

jaxrxn's metric is checked against the reference's own length function, and jaxrxn's path
must not be longer than the reference's by the same function. One vmapped call over the three reactions padded to six atoms
serves all the path checks (one compilation).
"""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrxn
from jaxrxn.geometry import rmsd_numpy
from jaxrxn.path import geodesic, geodesic_length
from jaxrxn.system import System

geodesic_interpolate = pytest.importorskip("geodesic_interpolate")
from geodesic_interpolate.coord_utils import align_path  # noqa: E402
from geodesic_interpolate.geodesic import Geodesic  # noqa: E402
from geodesic_interpolate.interpolation import redistribute  # noqa: E402

N_IMAGES = 8
N_PAD = 6

#: name -> (symbols, atomic numbers, reactant, product), Å
REACTIONS = {
    "HCN -> HNC": (
        ["C", "H", "N"],
        [6, 1, 7],
        [[-0.06691149, 0.03559170, -0.06792498], [0.03449593, 1.07179205, 0.03558137],
         [0.03241556, -1.10738375, 0.03234362]],
        [[-0.65518272, -0.57740142, -0.66558476], [0.58073853, 0.61739497, 0.59001319],
         [0.07444419, -0.03999355, 0.07557157]],
    ),
    "H2 + CO -> H2CO": (
        ["C", "O", "H", "H"],
        [6, 8, 1, 1],
        [[1.28427250, -0.13599250, 0.0], [1.28427250, -1.27584950, 0.0],
         [-1.39078350, 0.33903850, 0.0], [-1.17776150, 1.07280350, 0.0]],
        [[-0.00920611, 0.00711420, 0.0], [0.95908199, -0.71993969, 0.0],
         [-1.03349904, -0.38774949, 0.0], [0.08362316, 1.10057498, 0.0]],
    ),
    "CH2O + H2 -> CH3OH": (
        ["C", "H", "H", "O", "H", "H"],
        [6, 1, 1, 8, 1, 1],
        [[1.13849983, 0.00021200, 0.09519033], [1.69033483, -0.93023200, -0.08808667],
         [1.69045983, 0.92988900, -0.09157067], [-0.01069517, 0.00102600, 0.47821533],
         [-2.25385417, -0.38258500, -0.19783767], [-2.25474517, 0.38169000, -0.19591067]],
        [[0.25900951, -0.10777822, -0.26806379], [1.00803645, -0.89734014, -0.12232751],
         [0.74855241, 0.85379200, -0.45056240], [-0.44883930, -0.08000227, 0.97864015],
         [-0.41871564, -0.37084303, -1.08602516], [-1.14804343, 0.60217166, 0.94833871]],
    ),
}  # fmt: skip


def _reference_length(symbols, path) -> float:
    """The reference package's own path length (its pair list, radii and midpoints), which
    first aligns every image onto its predecessor (its ``align_path``)."""
    smoother = Geodesic(symbols, np.asarray(path), 1.7, threshold=3.0, log_level=logging.DEBUG)
    smoother.compute_disps()
    return float(smoother.length)


def _reference_path(symbols, R0, R1) -> np.ndarray:
    """``geodesic_interpolate``'s command-line defaults: bisection, then global smoothing."""
    np.random.seed(0)  # its bisection nudges with numpy's global generator
    raw = redistribute(symbols, [np.asarray(R0), np.asarray(R1)], N_IMAGES, tol=1e-2)
    smoother = Geodesic(symbols, raw, 1.7, threshold=3.0, friction=1e-2, log_level=logging.DEBUG)
    return smoother.smooth(tol=2e-3, max_iter=15)


def _min_distance(image: np.ndarray) -> float:
    d = np.linalg.norm(image[:, None] - image[None], axis=-1)
    return float(np.min(d + np.diag(np.full(len(image), np.inf))))


@pytest.fixture(scope="module")
def batch():
    """All three reactions in one vmapped call, padded to six atoms."""
    R0 = np.zeros((len(REACTIONS), N_PAD, 3))
    R1 = np.zeros_like(R0)
    systems = []
    for k, (_, numbers, a, b) in enumerate(REACTIONS.values()):
        n = len(numbers)
        R0[k, :n], R1[k, :n] = a, b
        R0[k, n:] = R1[k, n:] = 10.0 + np.arange(N_PAD - n)[:, None]  # parked padding
        systems.append(System(np.pad(numbers, (0, N_PAD - n)), atom_mask=np.arange(N_PAD) < n))
    system = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *systems)
    run = jax.vmap(lambda a, b, s: geodesic(a, b, N_IMAGES, s))
    result = run(jnp.asarray(R0), jnp.asarray(R1), system)
    return R0, R1, result


@pytest.mark.parametrize("k", range(len(REACTIONS)))
def test_not_longer_than_the_reference(batch, k):
    symbols, numbers, R0, R1 = list(REACTIONS.values())[k]
    n = len(numbers)
    ours = np.asarray(batch[2].path[k, :, :n])
    assert bool(batch[2].converged[k])
    theirs = _reference_path(symbols, R0, R1)
    system = System(numbers)
    # jaxrxn's metric against the reference's length function on the paths that function
    # measures (it re-aligns a path first): they agree to 0.1% on these small molecules (the
    # reference leaves out only distant pairs)
    for path in (ours, theirs):
        aligned = align_path(path)[1]
        reference = _reference_length(symbols, path)
        assert float(geodesic_length(aligned, system)) == pytest.approx(reference, rel=1e-3)
    assert float(batch[2].length[k]) == pytest.approx(float(geodesic_length(ours, system)), rel=1e-12)
    # the paths as returned, by the same function
    assert float(geodesic_length(ours, system)) <= 1.002 * float(geodesic_length(theirs, system))


@pytest.mark.parametrize("k", range(len(REACTIONS)))
def test_no_collisions_and_end_points_kept(batch, k):
    R0_all, R1_all, result = batch
    _, numbers, _, _ = list(REACTIONS.values())[k]
    n = len(numbers)
    path = np.asarray(result.path[k])
    np.testing.assert_array_equal(path[0], R0_all[k])
    # the product is only moved rigidly: all its interatomic distances are kept
    d = lambda R: np.linalg.norm(R[:, None] - R[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(path[-1, :n]), d(R1_all[k, :n]), atol=1e-10)
    np.testing.assert_array_equal(path[:, n:], np.broadcast_to(R0_all[k, n:], path[:, n:].shape))
    # no image squeezes two atoms much closer than the end states' closest pair (IDPP on
    # HCN -> HNC put two atoms 0.26 Å apart)
    floor = 0.85 * min(_min_distance(path[0, :n]), _min_distance(path[-1, :n]))
    assert min(_min_distance(image[:n]) for image in path) > floor
    # every image is aligned onto its predecessor (NEB springs and tangents are Cartesian)
    for a, b in zip(path[:-1, :n], path[1:, :n]):
        assert np.sqrt(np.mean(np.sum((a - b) ** 2, -1))) == pytest.approx(rmsd_numpy(b, a), abs=1e-6)
    # the path is smooth: no half-segment carries more than twice its share of the length
    system = System(numbers)
    steps = [float(geodesic_length(path[i : i + 2, :n], system)) for i in range(N_IMAGES - 1)]
    assert max(steps) < 2.0 * float(result.length[k]) / (N_IMAGES - 1)


def test_unpadded_call_matches_the_batch(batch):
    _, numbers, R0, R1 = REACTIONS["HCN -> HNC"]
    single = jaxrxn.path.geodesic(jnp.asarray(R0), jnp.asarray(R1), N_IMAGES, System(numbers))
    assert bool(single.converged)
    assert float(single.length) == pytest.approx(float(batch[2].length[0]), rel=2e-3)
    assert jaxrxn.geodesic is geodesic
    # float32 end states (as read from HDF5) with float64 enabled: computed in float64
    single32 = geodesic(jnp.asarray(R0, jnp.float32), jnp.asarray(R1, jnp.float32), N_IMAGES, System(numbers))
    assert single32.path.dtype == jnp.float64 and bool(single32.converged)
    np.testing.assert_allclose(np.asarray(single32.path), np.asarray(single.path), atol=1e-3)


def test_exactly_collinear_ends_are_bent_apart():
    """On one line, H would have to pass through C or N: the nudge breaks the symmetry."""
    hcn = np.array([[0.0, 0.0, 0.0], [-1.07, 0.0, 0.0], [1.16, 0.0, 0.0]])
    hnc = np.array([[0.0, 0.0, 0.0], [2.17, 0.0, 0.0], [1.17, 0.0, 0.0]])
    result = geodesic(hcn, hnc, N_IMAGES, System([6, 1, 7]))
    path = np.asarray(result.path)
    assert bool(result.converged)
    assert min(_min_distance(image) for image in path) > 0.85
    assert float(result.length) < 2.0  # the bent Birkholz path is 1.32


def test_bad_input_is_refused():
    _, numbers, R0, R1 = REACTIONS["HCN -> HNC"]
    R0, R1 = np.asarray(R0), np.asarray(R1)
    with pytest.raises(ValueError, match="NaN"):
        geodesic(np.where(np.eye(3, dtype=bool), np.nan, R0), R1, 5)
    with pytest.raises(ValueError, match="different shapes"):
        geodesic(R0, R1[:2], 5)
    with pytest.raises(ValueError, match="at least 3 images"):
        geodesic(R0, R1, 2)
    with pytest.raises(ValueError, match="periodic"):
        geodesic(R0, R1, 5, System(numbers, cell=np.eye(3) * 10.0))
    with pytest.raises(ValueError, match="system has 4 atoms"):
        geodesic(R0, R1, 5, System([6, 1, 7, 1]))
