"""find_reactions: reactions of different sizes on one JAX potential as padded batches."""

import jax
import numpy as np
import pytest

from jaxrxn import _jit
from jaxrxn.potentials.emt import emt_from_atoms
from jaxrxn.reaction import find_reaction
from jaxrxn.batch import find_reactions
from jaxrxn.systems import adatom_hop_fcc100


def test_batched_pipeline_equals_one_reaction_at_a_time():
    """EMT adatom hops on Pt(100) (9 atoms, padded to 13) and Au on Al(100) (13 atoms):
    every stage batched, the padded reaction's result is the one find_reaction gives alone
    (same barrier, same force calls per stage, same verdict)."""
    pairs, pots = [], []
    for metal, size, adatom in (("Pt", (2, 2, 2), None), ("Al", (2, 2, 3), "Au")):
        initial, final = adatom_hop_fcc100(metal, size, adatom)
        # The slabs are mirror-symmetric about the hop's plane, and the saddle leaves that
        # plane: which of the two mirror-image saddles a search reaches is decided by the last
        # bits of the arithmetic, which differ between a padded batch and a single run (and
        # between XLA builds). A fixed bottom atom moved 0.1 Å off the plane breaks the tie.
        R0, R1 = initial.positions.copy(), final.positions.copy()
        fixed = initial.constraints[0].index[0]
        R0[fixed, 1] += 0.1
        R1[fixed, 1] += 0.1
        pairs.append((R0, R1))
        pots.append(emt_from_atoms(initial)[1])
    seen = []
    results = find_reactions(pairs, pots, interpolation="linear", n_images=5, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1]
    alone = find_reaction(*pairs[0], pots[0], interpolation="linear", n_images=5)
    batch = results[0]
    assert batch.R_ts.shape == (9, 3) and batch.band.shape == (5, 9, 3)
    assert batch.barrier == pytest.approx(alone.barrier, abs=1e-8)
    assert 0.5 < batch.barrier < 0.8 and 0.25 < results[1].barrier < 0.5  # EMT hop barriers
    np.testing.assert_allclose(batch.R_ts, alone.R_ts, atol=1e-8)
    assert batch.n_force_calls_by_stage == alone.n_force_calls_by_stage
    assert (batch.saddle_index, batch.failed_stage, batch.connects) == (alone.saddle_index, alone.failed_stage, alone.connects)
    assert (batch.converged, batch.ts_source) == (alone.converged, alone.ts_source) == (True, "band")
    assert batch.n_hessian_calls == alone.n_hessian_calls
    np.testing.assert_allclose(batch.irc_energies, alone.irc_energies, atol=1e-8)


def test_bad_end_points_name_the_reaction():
    initial, final = adatom_hop_fcc100("Pt", (2, 2, 2), None)
    pot = emt_from_atoms(initial)[1]
    bad = final.positions.copy()
    bad[-1] = bad[0]
    with pytest.raises(ValueError, match="reaction 1: final state has overlapping atoms"):
        find_reactions([(initial.positions, final.positions), (initial.positions, bad)], [pot, pot])
    # band settings are checked before any work too; a padded batch has no fallback band
    pair = (initial.positions, final.positions)
    with pytest.raises(ValueError, match="neb_fmax must be positive"):
        find_reactions([pair], [pot], neb_fmax=0.0)
    with pytest.raises(ValueError, match="one neb_fmax, not a sequence"):
        find_reactions([pair], [pot], neb_fmax=(0.5, 0.1))


def test_outside_calculators_run_concurrently(monkeypatch):
    """Reactions behind outside calculators (here ASE's EMT through the host bridge) run
    find_reaction on `workers` threads at once, a new one starting as soon as one ends;
    results come back in input order. Near the memory-map limit no reaction starts until
    those in flight are done, and the compiled code is dropped with none running."""
    import threading
    import time

    from ase.calculators.emt import EMT

    from jaxrxn import reaction
    from jaxrxn.potentials.external import ase_potential

    pairs, pots = [], []
    for metal, size in (("Pt", (2, 2, 2)), ("Cu", (2, 2, 3)), ("Ni", (2, 2, 2)), ("Pd", (2, 2, 2))):
        initial, final = adatom_hop_fcc100(metal, size)
        pairs.append((initial.positions, final.positions))
        pots.append(ase_potential(EMT(), initial))
    lock, running, most = threading.Lock(), [0], [0]
    started, ended = {}, {}
    seconds = [0.8, 0.1, 0.1, 0.1]  # the first reaction outlasts the next two

    def fake(R0, R1, potential, **options):
        i = next(k for k, p in enumerate(pots) if p is potential)
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started[i] = time.perf_counter()
        time.sleep(seconds[i])
        with lock:
            running[0] -= 1
            ended[i] = time.perf_counter()
        return reaction.ReactionResult(barrier=float(R0.shape[0]), message=f"{options['interpolation']} {options['neb_fmax']} {options['neb_max_steps']}")

    monkeypatch.setattr(reaction, "find_reaction", fake)
    # the limit is reached once the second and third reactions have ended
    monkeypatch.setattr(_jit, "near_map_limit", lambda: len(ended) >= 2 and not cleared)
    cleared = []
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append((running[0], len(started))))
    seen = []
    results = find_reactions(pairs, pots, interpolation="idpp", workers=2, on_result=lambda i, r: seen.append(i))
    assert most[0] == 2 and sorted(seen) == [0, 1, 2, 3]
    assert [r.barrier for r in results] == [9.0, 13.0, 9.0, 9.0]
    # the options reach find_reaction as given: its own band defaults for an outside
    # calculator (a loose, short band), not a JAX potential's (until session 30: 0.1 eV/Å, 500 steps)
    assert all(r.message == "idpp None None" for r in results)
    assert started[2] < ended[0]  # the pool stays full: no waiting for the slowest of a round
    assert cleared == [(0, 3)]  # cleared once, with none in flight, before the last started
    assert started[3] > ended[0]


def test_compiled_code_is_dropped_only_near_the_map_limit():
    """`clear_caches_near_map_limit`: below the threshold a jitted function keeps its
    compiled code, above it (here a threshold of 0) the code is dropped (Linux: it counts
    /proc/self/maps)."""
    f = jax.jit(lambda x: 2.0 * x)
    f(1.0)
    assert not _jit.clear_caches_near_map_limit(1.0) and f._cache_size() == 1
    assert _jit.clear_caches_near_map_limit(0.0) and f._cache_size() == 0



def _two_double_wells(R, system, params):
    """A bent 3-atom molecule whose two bonds are coupled double wells (minima at 1.25 and
    1.75 Å; eV): from both bonds short to both long the pipeline's band diverges."""
    import jax.numpy as jnp

    r1, r2 = jnp.linalg.norm(R[1] - R[0]), jnp.linalg.norm(R[2] - R[1])
    cos = jnp.vdot(R[0] - R[1], R[2] - R[1]) / (r1 * r2)
    well = lambda r: ((r - 1.5) ** 2 - 0.25**2) ** 2 / 0.25**4  # noqa: E731
    return well(r1) + well(r2) + 0.3 * (r1 - 1.5) * (r2 - 1.5) + 2.0 * (cos + 0.5) ** 2


def test_a_diverged_band_goes_on_in_a_batch_as_alone():
    """find_reaction hands a diverged band's kept images on to the saddle search unless a
    calculator failed (a JAX potential has none); the batch stopped such a reaction at the
    band (session 27), so its verdict differed from the reaction's alone."""
    from jaxrxn.potentials.core import Potential
    from jaxrxn.system import System

    pot = Potential(_two_double_wells, None, System(numbers=[6, 6, 6]))
    bent = lambda r: np.array([[r, 0.0, 0.0], [0.0, 0.0, 0.0], [-0.5 * r, np.sqrt(0.75) * r, 0.0]])  # noqa: E731
    pair = (bent(1.25), bent(1.75))
    alone = find_reaction(*pair, pot, relax=False, n_images=7)
    (batch,) = find_reactions([pair], [pot], relax=False, n_images=7)
    assert alone.failed_stage == batch.failed_stage == "saddle", (alone.message, batch.message)
    assert batch.n_force_calls_by_stage == alone.n_force_calls_by_stage


def _hop_with_pucker(R, system, params):
    """An H atom (3) hops from atom A (0) to atom C (2) of a stiff triangle ABC (eV, Å).
    ``x = d(H,A) - d(H,C)`` is a double well (minima at x = -0.5 and +0.5, 2 eV between);
    the height `h` of H above the ABC plane has curvature ``2 (1 - 3 exp(-(x/0.35)^2))``, so
    in the hop's middle the plane is a maximum: the planar point x = 0 has index 2, and the
    saddles are its two mirror images at h = ±sqrt(2/8) = ±0.5 Å, 2 - 2^2/16 = 1.75 eV."""
    import jax.numpy as jnp

    A, B, C, H = R
    bond = lambda P, Q, r0: 5.0 * (jnp.linalg.norm(P - Q) - r0) ** 2  # noqa: E731
    dA, dC = jnp.linalg.norm(H - A), jnp.linalg.norm(H - C)
    x = dA - dC
    normal = jnp.cross(B - A, C - A)
    h = jnp.vdot(H - A, normal) / jnp.linalg.norm(normal)
    return (
        bond(A, B, 1.5) + bond(B, C, 1.5) + bond(A, C, 2.2)
        + 2.0 * (x**2 / 0.5**2 - 1.0) ** 2 + 2.0 * (dA + dC - 2.6) ** 2
        + (1.0 - 3.0 * jnp.exp(-((x / 0.35) ** 2))) * h**2 + 4.0 * h**4
    )  # fmt: skip


def _pucker_height(R) -> float:
    A, B, C, H = np.asarray(R)
    normal = np.cross(B - A, C - A)
    return float(abs(np.dot(H - A, normal)) / np.linalg.norm(normal))


def test_the_batch_steps_off_a_second_order_point(monkeypatch):
    """A planar band keeps its plane (the surface is mirror-symmetric about it), so its
    climbing image and the saddle search from it stop on the planar index-2 point; a
    find_reactions batch must then step off it along the second imaginary mode
    (`off_second_order_point`, as find_reaction does: tests/test_reaction.py) to a saddle
    of index 1. Oracle: the surface's analytic saddle (1.75 eV, H 0.5 Å out of the plane;
    see `_hop_with_pucker`). Without the step (SECOND_MODE_STEP = 0) the batch fails at the
    saddle with index 2; with the batch's escape loop removed this test fails (checked)."""
    from jaxrxn import reaction
    from jaxrxn.potentials.core import Potential
    from jaxrxn.system import System

    pot = Potential(_hop_with_pucker, None, System(numbers=[6, 6, 6, 1]))
    A, B, C = [0.0, 0.0, 0.0], [1.1, -np.sqrt(1.5**2 - 1.1**2), 0.0], [2.2, 0.0, 0.0]

    def with_h(x: float) -> np.ndarray:  # H in the plane with d(H,A) - d(H,C) = x, sum 2.6 Å
        dA, dC = (2.6 + x) / 2, (2.6 - x) / 2
        along = (dA**2 - dC**2 + 2.2**2) / (2 * 2.2)
        return np.array([A, B, C, [along, np.sqrt(dA**2 - along**2), 0.0]])

    pair = (with_h(-0.5), with_h(0.5))
    options = dict(relax=False, interpolation="linear", n_images=7, neb_fmax=0.01)
    (batch,) = find_reactions([pair], [pot], **options)
    assert batch.converged and batch.saddle_index == 1, batch.message
    assert batch.barrier == pytest.approx(1.75, abs=1e-6)
    assert _pucker_height(batch.R_ts) == pytest.approx(0.5, abs=1e-4)
    assert abs(_pucker_height(batch.band[int(np.argmax(batch.band_energies))])) < 1e-8  # the band stayed planar

    monkeypatch.setattr(reaction, "SECOND_MODE_STEP", 0.0)
    (stuck,) = find_reactions([pair], [pot], **options)
    assert stuck.failed_stage == "saddle" and stuck.saddle_index == 2, stuck.message
