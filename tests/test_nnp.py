"""The species-aware equivariant NNP (jaxrxn.nnp): symmetry, padding, neighbour lists, the
element domain, use as a Potential, training with exact resume, GFN2-xTB labelling."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from jaxrxn.nnp.data import (
    Configurations, configurations_from_reactions, pad_configurations, read_configurations, split_by_group,
    write_configurations,
)  # fmt: skip
from jaxrxn.nnp.model import NNPEnergy, batch_energy_and_forces, load_model, nnp_potential, save_model
from jaxrxn.nnp.train import NNPConfig, evaluate, init_state, train_nnp

# methanol-like CH3OH and a water molecule (Å)
METHANOL = (np.array([6, 8, 1, 1, 1, 1]), np.array([
    [-0.047, 0.665, 0.0], [-0.047, -0.758, 0.0], [-1.086, 0.976, 0.0], [0.437, 1.081, 0.889],
    [0.437, 1.081, -0.889], [0.859, -1.083, 0.0]]))  # fmt: skip
WATER = (np.array([8, 1, 1]), np.array([[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]]))


def small(backbone: str) -> NNPEnergy:
    return NNPEnergy((1, 6, 8), backbone=backbone, features=8, n_layers=2, n_rbf=6, r_cut=4.0, max_degree=1)


@eqx.filter_jit
def energy_and_forces(pot, R):
    return pot.energy_and_forces(R)


def random_params(fn, seed=0):
    p = fn.init(jax.random.PRNGKey(seed), jnp.float64)
    return {**p, "shift": jnp.array([-10.0, -40.0, -120.0]), "scale": jnp.asarray(0.7)}


@pytest.mark.parametrize("backbone", ["painn", "e3x"])
def test_energy_invariant_and_forces_equivariant(backbone):
    fn = small(backbone)
    p = random_params(fn)
    Z, R = METHANOL
    R = R + 0.05 * np.random.default_rng(1).normal(size=R.shape)
    pot = nnp_potential(fn, p, Z)
    e, F = energy_and_forces(pot, jnp.asarray(R))
    Q = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    for q in (Q, -Q):  # a rotation, and a rotation times the inversion
        e2, F2 = energy_and_forces(pot, jnp.asarray(R @ q.T + np.array([1.0, -2.0, 0.5])))
        np.testing.assert_allclose(e2, e, rtol=0, atol=1e-10)
        np.testing.assert_allclose(F2, F @ q.T, rtol=0, atol=1e-10)
    perm = np.array([0, 1, 4, 2, 5, 3])  # the methyl H's swapped, and the hydroxyl H moved in the list
    e3, F3 = energy_and_forces(nnp_potential(fn, p, Z[perm]), jnp.asarray(R[perm]))
    np.testing.assert_allclose(e3, e, rtol=0, atol=1e-10)
    np.testing.assert_allclose(F3, F[perm], rtol=0, atol=1e-10)
    # forces are the energy's negative gradient (central differences)
    h, k = 1e-5, (3, 2)
    dR = np.zeros_like(R)
    dR[k] = h
    fd = -(energy_and_forces(pot, jnp.asarray(R + dR))[0] - energy_and_forces(pot, jnp.asarray(R - dR))[0]) / (2 * h)
    assert abs(fd - F[k]) < 1e-6 and abs(F[k]) > 1e-3
    # the species matter: the same geometry with O and C exchanged has another energy
    Zs = Z.copy()
    Zs[:2] = Zs[1::-1]
    assert abs(energy_and_forces(nnp_potential(fn, p, Zs), jnp.asarray(R))[0] - e) > 1e-3


def test_padded_batch_equals_unpadded_molecules():
    # PaiNN only: e3x's padding goes through the same pair mask (nets.edge_geometry), and
    # its compile costs CI half a minute
    fn = small("painn")
    p = random_params(fn)
    # padding atoms at random places, some on top of real atoms and of each other
    rng = np.random.default_rng(2)
    data = pad_configurations([METHANOL[0], WATER[0]], [METHANOL[1], WATER[1]], [0.0, 0.0],
                              [np.zeros((6, 3)), np.zeros((3, 3))], [0, 1], n_atoms=9)  # fmt: skip
    R = np.asarray(data.positions).copy()
    R[0, 6:] = rng.normal(size=(3, 3))
    R[1, 3:] = np.concatenate([WATER[1][:1], np.zeros((5, 3))])
    E, F = jax.jit(lambda Z, R: batch_energy_and_forces(fn, p, Z, R))(jnp.asarray(data.numbers), jnp.asarray(R))
    for c, (Z, X) in enumerate((METHANOL, WATER)):
        e, f = energy_and_forces(nnp_potential(fn, p, Z), jnp.asarray(X))
        np.testing.assert_allclose(E[c], e, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(F[c, : len(Z)], f, rtol=0, atol=1e-12)
        assert np.all(F[c, len(Z) :] == 0)
    # the same through a System with an atom mask (what jaxrxn.batch builds)
    pot = nnp_potential(fn, p, np.asarray(data.numbers[1]), atom_mask=np.asarray(data.atom_mask[1]))
    np.testing.assert_allclose(energy_and_forces(pot, jnp.asarray(R[1]))[0], E[1], rtol=1e-13)


def test_neighbor_list_energy_equals_all_pairs():
    fn = small("painn")
    p = random_params(fn)
    Z = np.concatenate([METHANOL[0], WATER[0]])
    R = np.concatenate([METHANOL[1], WATER[1] + np.array([7.0, 0.0, 0.0])])
    pot = nnp_potential(fn, p, Z)
    listed = pot.with_neighbors(jnp.asarray(R), skin=0.3)
    assert listed.neighbors.capacity < len(Z) - 1  # the list really leaves pairs out
    e, f = energy_and_forces(pot, jnp.asarray(R))
    e2, f2 = energy_and_forces(listed, jnp.asarray(R))
    np.testing.assert_allclose(e2, e, rtol=1e-13)
    np.testing.assert_allclose(f2, f, rtol=0, atol=1e-12)


def test_element_outside_the_domain_is_named():
    fn = small("painn")
    p = random_params(fn)
    with pytest.raises(ValueError, match="knows only H C O; the structure has N, Cl"):
        nnp_potential(fn, p, [6, 7, 17, 1])
    data = pad_configurations([np.array([7, 1, 1, 1])], [np.zeros((4, 3))], [0.0], [np.zeros((4, 3))], [0])
    with pytest.raises(ValueError, match="the training set has N"):
        train_nnp(fn, data, NNPConfig(n_steps=1))


def test_norm_eps_reaches_the_network_is_saved_and_older_files_default(tmp_path):
    import json

    fn = small("painn")
    p = random_params(fn)
    Z, R = METHANOL
    e = {eps: float(nnp_potential(dataclasses.replace(fn, norm_eps=eps), p, Z).energy(jnp.asarray(R))) for eps in (1e-8, 1e-2)}
    assert e[1e-8] != e[1e-2]
    smooth = dataclasses.replace(fn, norm_eps=1e-4)
    save_model(tmp_path / "m.npz", smooth, p)
    assert load_model(tmp_path / "m.npz")[0] == smooth
    # a file written before the setting existed has no norm_eps in its header: 1e-8
    with np.load(tmp_path / "m.npz") as data:
        arrays = dict(data)
    header = json.loads(str(arrays["__header__"]))
    del header["fields"]["norm_eps"]
    np.savez(tmp_path / "old.npz", **{**arrays, "__header__": np.array(json.dumps(header))})
    assert load_model(tmp_path / "old.npz")[0] == fn
    with pytest.raises(ValueError, match="norm_eps must be positive"):
        dataclasses.replace(fn, norm_eps=0.0)


def _toy_set(n=48, seed=0):
    """Water and OH/CO fragments labelled with a Morse sum (a closed form), so the tests
    need no xTB: energies eV, forces eV/Å by autodiff of the same closed form."""
    rng = np.random.default_rng(seed)

    def morse(R, Z):
        d = R[:, None] - R[None]
        r = jnp.sqrt(jnp.sum(d**2, -1) + jnp.eye(len(R)))
        re = 0.5 + 0.05 * (Z[:, None] + Z[None])
        e = (1 - jnp.exp(-1.5 * (r - re))) ** 2 - 1
        return 0.5 * jnp.sum(jnp.where(jnp.eye(len(R)) > 0, 0.0, e))

    mols = [WATER, (np.array([6, 8]), np.array([[0.0, 0, 0], [1.2, 0, 0]])), (np.array([8, 1]), np.array([[0.0, 0, 0], [0.97, 0, 0]]))]
    Zs, Rs, Es, Fs, Gs = [], [], [], [], []
    for c in range(n):
        g = c % 3
        Z, R = mols[g]
        X = R + 0.08 * rng.normal(size=R.shape)
        e, gr = jax.value_and_grad(morse)(jnp.asarray(X), jnp.asarray(Z, float))
        Zs.append(Z), Rs.append(X), Es.append(float(e)), Fs.append(-np.asarray(gr)), Gs.append(g)
    return pad_configurations(Zs, Rs, Es, Fs, Gs)


@pytest.mark.parametrize("size_buckets", [1, 2])
def test_training_learns_and_a_resumed_run_is_bit_identical(tmp_path, size_buckets):
    data = _toy_set()
    train, valid = data.take(np.arange(36)), data.take(np.arange(36, 48))
    fn = small("painn")
    cfg = NNPConfig(batch_size=8, learning_rate=5e-3, n_steps=60, seed=3, size_buckets=size_buckets)
    before = evaluate(fn, init_state(fn, train, cfg).train.params, valid)
    full, st_full, hist = train_nnp(fn, train, cfg, valid=valid, eval_every=20)
    assert [h["step"] for h in hist] == [20, 40, 60]
    after = evaluate(fn, full, valid)
    assert after["f_mae"] < 0.25 * before["f_mae"] and after["e_mae"] < 0.25 * before["e_mae"]
    ck = tmp_path / "ck.npz"
    _, st_cut, _ = train_nnp(fn, train, cfg, valid=valid, eval_every=20, checkpoint=ck, stop_at=40)
    assert int(st_cut.train.step) == 40
    resumed, st_res, hist_res = train_nnp(fn, train, cfg, valid=valid, eval_every=20, checkpoint=ck)
    assert [h["step"] for h in hist_res] == [60]
    for a, b in zip(jax.tree_util.tree_leaves((full, st_full)), jax.tree_util.tree_leaves((resumed, st_res))):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # the model file round-trips
    save_model(tmp_path / "m.npz", fn, full, note="x")
    fn2, p2, meta = load_model(tmp_path / "m.npz")
    assert fn2 == fn and meta == {"note": "x"}
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(p2)))


def test_size_buckets_minimise_the_padded_cost_and_keep_every_configuration():
    """split_by_size: the bounds are the cheapest (sum of len * size^2) of all contiguous
    splits into at most K buckets (brute force), every configuration lands in exactly one
    bucket cut to its size, and evaluate over the buckets equals evaluate over the whole."""
    import itertools

    from jaxrxn.nnp.data import concatenate, split_by_size

    rng = np.random.default_rng(1)
    counts = {2: 7, 3: 5, 5: 1, 6: 9, 8: 2}
    Zs, Rs = [], []
    for n, c in counts.items():
        for _ in range(c):
            Zs.append(rng.choice([1, 6, 8], size=n)), Rs.append(rng.normal(size=(n, 3)) * n**0.5)
    C = len(Zs)
    data = pad_configurations(Zs, Rs, rng.normal(size=C), [rng.normal(size=(len(z), 3)) for z in Zs], np.arange(C))
    sizes = sorted(counts)
    for k in (1, 2, 3, 5, 9):
        best = min(
            sum(sum(counts[s] for s in part) * max(part) ** 2 for part in np.split(sizes, cuts))
            for m in range(min(k, len(sizes)))
            for cuts in itertools.combinations(range(1, len(sizes)), m)
        )
        b = split_by_size(data, k)
        assert sum(len(x) * w**2 for x, w in zip(b.buckets, b.sizes)) == best and len(b) == C
        assert all(((np.asarray(x.numbers) > 0).sum(1) > 0).all() and (np.asarray(x.numbers)[:, -1] > 0).any() for x in b.buckets)
        back = concatenate(list(b.buckets))
        order = np.argsort(np.asarray(back.group))
        for a, c in zip(jax.tree_util.tree_leaves(data), jax.tree_util.tree_leaves(back.take(order))):
            assert np.array_equal(a, c)
    assert split_by_size(data, 3).sizes == (3, 6, 8)
    fn = small("painn")
    params = random_params(fn)
    whole, parts = evaluate(fn, params, data, chunk=4), evaluate(fn, params, split_by_size(data, 3), chunk=4)
    assert parts["n"] == whole["n"] == C
    for key in whole:
        assert parts[key] == pytest.approx(whole[key], rel=1e-12)
    with pytest.raises(ValueError, match="n_buckets must be at least 1"):
        split_by_size(data, 0)


def test_split_by_molecule_and_file_round_trip(tmp_path):
    data = _toy_set(n=30)
    data = Configurations(data.numbers, data.positions, data.energy, data.forces, np.arange(30) % 10)
    parts = split_by_group(data, (0.8, 0.1, 0.1), seed=0)
    groups = [set(np.asarray(p.group).tolist()) for p in parts]
    assert [len(g) for g in groups] == [8, 1, 1] and set.union(*groups) == set(range(10))
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    write_configurations(tmp_path / "c.h5", data, ["perturbed"] * 30, label_s=1.5)
    back, kinds, attrs = read_configurations(tmp_path / "c.h5")
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(data), jax.tree_util.tree_leaves(back)))
    assert list(kinds) == ["perturbed"] * 30 and attrs["label_s"] == 1.5 and attrs["level"] == "GFN2-xTB"


def test_labelling_a_reaction_with_gfn2_xtb():
    pytest.importorskip("tblite")
    from ase.calculators.calculator import all_changes  # noqa: F401
    from tblite.ase import TBLite
    from ase import Atoms

    from jaxrxn.generative.data import ReactionPath

    Z, R = WATER
    ts = R.copy()
    ts[1] *= 1.3
    images = np.stack([R, 0.5 * (R + ts), ts])
    rx = ReactionPath("H2O", "rxn0", Z, images, None, None, R, ts, R + 0.01, {})
    data, kinds, info = configurations_from_reactions([rx, rx], n_perturbed=1, sigma=0.05, seed=0)
    assert info["n_configurations"] == len(data) == 2 * (3 + 3 + 3) and info["n_groups"] == 1
    assert list(kinds[:9]) == ["reactant", "transition_state", "product"] + ["perturbed"] * 3 + ["image"] * 3
    for c in (1, 4):  # the TS and a perturbed copy, against tblite's ASE calculator
        atoms = Atoms(numbers=Z, positions=np.asarray(data.positions[c, :3]))
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        assert abs(atoms.get_potential_energy() - data.energy[c]) < 1e-6
        np.testing.assert_allclose(data.forces[c, :3], atoms.get_forces(), atol=1e-5)


def _train_nnp_cli(argv, capsys):
    """``jaxrxn train-nnp ARGV --json -q`` in-process: (exit code, report, stderr)."""
    from helpers import run_cli

    return run_cli(["train-nnp", *argv, "--json", "-q"], capsys)


def test_train_nnp_command_stops_resumes_and_writes_a_model(tmp_path, capsys):
    data = _toy_set(n=24)
    write_configurations(tmp_path / "c.h5", data)
    ck, out = tmp_path / "ck.npz", tmp_path / "m.npz"
    argv = [str(tmp_path / "c.h5"), "-o", str(out), "--features", "4", "--layers", "1", "--steps", "4", "--batch-size", "4",
            "--eval-every", "2", "--checkpoint", str(ck)]  # fmt: skip
    code, rep, _ = _train_nnp_cli([*argv, "--stop-at", "2"], capsys)
    assert code == 1 and rep["step"] == 2 and not rep["finished"]
    assert (rep["n_train"], rep["n_valid"], rep["n_test"]) == (8, 8, 8) and rep["elements"] == [1, 6, 8]
    code, rep, _ = _train_nnp_cli([*argv, "--resume"], capsys)
    assert code == 0 and rep["step"] == 4 and rep["resumed_from"] == 2 and rep["finished"]
    fn, params, meta = load_model(out)
    assert meta["test"] == rep["test"] and rep["test"]["n"] == 8 and np.isfinite(rep["test"]["f_mae"])
    code, _, err = _train_nnp_cli(argv, capsys)
    assert code == 2 and "exists: pass --resume" in err
    # fine-tuning starts from the model's parameters (shifts included): the first validation
    # of a run at a vanishing learning rate equals the model's own validation loss
    tuned = tmp_path / "tuned.npz"
    init = [str(tmp_path / "c.h5"), "--init", str(out), "-o", str(tuned), "--steps", "2", "--batch-size", "4", "--eval-every", "2",
            "--learning-rate", "1e-12", "--features", "99"]  # fmt: skip
    code, rep, _ = _train_nnp_cli(init, capsys)
    fn2, params2, meta2 = load_model(tuned)
    assert code == 0 and fn2 == fn and meta2["init"]["file"] == "m.npz" and rep["init"] == meta2["init"]
    valid = split_by_group(data, (0.8, 0.1, 0.1), seed=0)[1]
    assert rep["last_validation"]["val_loss"] == pytest.approx(evaluate(fn, params, valid)["loss"], rel=1e-8)
    code, _, err = _train_nnp_cli([str(tmp_path / "c.h5"), "-o", str(tmp_path / "bad.npz"), "--norm-eps", "0"], capsys)
    assert code == 2 and err == "jaxrxn: error: norm_eps must be positive; got 0.0."
    code, _, err = _train_nnp_cli([str(tmp_path / "missing.h5")], capsys)
    assert code == 2 and err == f"jaxrxn: error: data file {str(tmp_path / 'missing.h5')!r} does not exist."


def test_train_nnp_in_single_precision(tmp_path, capsys):
    """``--dtype float32`` (with ``--size-buckets 2``): the arithmetic and the saved
    weights are float32 (shifts and scale written as float64), a stopped run resumes bit
    for bit, and the model runs in the caller's float64 as in float32 (up to float32
    rounding); a float64 checkpoint does not resume a float32 run."""
    data = _toy_set(n=24)
    write_configurations(tmp_path / "c.h5", data)
    base = [str(tmp_path / "c.h5"), "--features", "4", "--layers", "1", "--steps", "4", "--batch-size", "4", "--eval-every", "2"]
    out, ck, whole = tmp_path / "m.npz", tmp_path / "ck.npz", tmp_path / "whole.npz"
    code, rep, _ = _train_nnp_cli([*base, "--dtype", "float32", "--size-buckets", "2", "-o", str(whole)], capsys)
    assert code == 0 and rep["dtype"] == "float32"
    argv = [*base, "--dtype", "float32", "--size-buckets", "2", "-o", str(out), "--checkpoint", str(ck)]
    assert _train_nnp_cli([*argv, "--stop-at", "2"], capsys)[0] == 1
    code, rep, _ = _train_nnp_cli([*argv, "--resume"], capsys)
    assert code == 0 and rep["resumed_from"] == 2
    fn, params, meta = load_model(out)
    _, params_whole, _ = load_model(whole)
    leaves = jax.tree_util.tree_leaves(params)
    assert meta["dtype"] == "float32" and {a.dtype for a in jax.tree_util.tree_leaves(params["net"])} == {jnp.dtype(np.float32)}
    assert params["shift"].dtype == params["scale"].dtype == jnp.float64  # written exactly in float64
    assert meta["config"]["size_buckets"] == 2
    assert all(np.array_equal(a, b) for a, b in zip(leaves, jax.tree_util.tree_leaves(params_whole)))
    Z, R = METHANOL
    params32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), params)
    e32 = nnp_potential(fn, params32, Z).energy(jnp.asarray(R, jnp.float32))
    e64 = nnp_potential(fn, params, Z).energy(jnp.asarray(R, jnp.float64))
    assert e32.dtype == jnp.float32 and e64.dtype == jnp.float64
    assert float(e64) == pytest.approx(float(e32), abs=1e-5 * abs(float(e64)))
    # a float64 run's checkpoint is not a float32 run's state
    ck64 = tmp_path / "ck64.npz"
    assert _train_nnp_cli([*base, "-o", str(tmp_path / "m64.npz"), "--checkpoint", str(ck64), "--stop-at", "2"], capsys)[0] == 1
    code, _, err = _train_nnp_cli([*base, "--dtype", "float32", "-o", str(out), "--checkpoint", str(ck64), "--resume"], capsys)
    assert code == 2 and "does not fit this model and data" in err
    code, _, err = _train_nnp_cli([*base, "--size-buckets", "0"], capsys)
    assert code == 2 and "--size-buckets must be positive" in err
    # a float64 model fine-tuned in float32 is cast down: its state is not a float64 fine-tune's
    tune = [*base, "--init", str(tmp_path / "m64.npz"), "-o", str(tmp_path / "t.npz"), "--checkpoint", str(tmp_path / "ckt.npz")]
    assert _train_nnp_cli([*tune, "--dtype", "float32", "--stop-at", "2"], capsys)[0] == 1
    code, _, err = _train_nnp_cli([*tune, "--resume"], capsys)
    assert code == 2 and "does not fit this model and data" in err


def test_stored_gfn2_labels_are_used_and_only_perturbed_copies_computed(tmp_path):
    pytest.importorskip("tblite")
    from jaxrxn.generative.data import ReactionPath, write_transition1x
    from jaxrxn.nnp.data import configurations_from_file, xtb_labels

    Z, R = WATER
    images = np.stack([R, R + np.array([0, 0.1, 0]), R * np.array([1, 1.2, 1])])
    E, F = xtb_labels(Z, images)
    rx = ReactionPath("H2O", "rxn0", Z, images, E, F, images[0], images[1], images[2], {"molecule": np.array(7)})
    write_transition1x(str(tmp_path / "rx.h5"), {"train": [rx]}, level="GFN2-xTB")
    data, kinds, info = configurations_from_file(str(tmp_path / "rx.h5"), "train", "GFN2-xTB", n_perturbed=2)
    assert info["n_labelled"] == 6 and len(data) == 3 + 6 + 3 and info["n_groups"] == 1
    np.testing.assert_array_equal(np.asarray(data.energy)[kinds == "image"], E)
    # the reactant group of write_transition1x is the first frame, the "TS" the highest
    assert np.asarray(data.energy)[kinds == "reactant"][0] == E[0]
    Ep, _ = xtb_labels(Z, np.asarray(data.positions)[kinds == "perturbed"][:, :3])
    np.testing.assert_allclose(np.asarray(data.energy)[kinds == "perturbed"], Ep, atol=1e-8)
