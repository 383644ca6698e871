"""The shipped neural-network potential (jaxrxn.nnp.model, ``--calc nnp``): it loads and
reproduces its recorded errors against GFN2-xTB on held-out reactions, it is a calculator
name on every command, and structures outside its domain are refused with exit code 2."""

import ase.io
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms

from jaxrxn.datasets import heldout_reactions, shipped_dataset, training_reactions
from jaxrxn.generative.data import read_transition1x
from jaxrxn.nnp.data import path_configurations
from jaxrxn.nnp.model import load_pretrained, pretrained
from jaxrxn.nnp.train import evaluate

from helpers import XTB_SNAPSHOT_62, run_cli

#: the model's training data: the shipped data set
DATA = shipped_dataset()


def heldout_subset(meta: dict):
    """The recorded held-out reactions' path frames with their stored GFN2-xTB labels."""
    names = meta["heldout"]["reactions"]
    rx = [r for r in heldout_reactions() if r.rxn in set(names)]
    assert [r.rxn for r in rx] == names
    return path_configurations(rx)


def test_shipped_model_reproduces_its_heldout_errors():
    energy_fn, params, meta = load_pretrained("xtb-painn")
    assert energy_fn.elements == (1, 6, 7, 8) and energy_fn.backbone == "painn"
    got = evaluate(energy_fn, params, heldout_subset(meta))
    want = meta["heldout"]["subset"]
    assert got["n"] == want["n"]
    for k in ("e_mae", "f_mae", "f_rmse"):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, err_msg=k)
    # a trained model, not noise: the held-out force error is well under the forces' own spread
    assert got["f_mae"] < 0.5 * float(params["scale"])


def test_heldout_reactions_are_the_val_and_test_splits(tmp_path):
    """The molecule split of ``molecules/`` (what heldout_reactions and training_reactions
    read) and the file's own ``train``/``val``/``test`` groups (Transition1x layout) name the
    same reactions, 806 + 223; files without a molecule split and reactions without labels
    are refused."""
    with h5py.File(DATA, "r") as f:  # the groups' reaction names, without reading their frames
        groups = {s: {rxn for grp in f[s].values() for rxn in grp} for s in ("train", "val", "test")}
    held = heldout_reactions(level=None)
    assert {r.rxn for r in held} == groups["val"] | groups["test"] and len(held) == 223
    train = {r.rxn for r in training_reactions(level=None)}
    assert train == groups["train"] and len(train) == 806
    with pytest.raises(ValueError, match="no molecules/"):
        heldout_reactions(_transition1x_only(tmp_path))
    with pytest.raises(ValueError, match="without path energies"):
        path_configurations(held[:2])


def _transition1x_only(tmp_path) -> str:
    from jaxrxn.generative.data import write_transition1x

    fn = str(tmp_path / "t1x.h5")
    write_transition1x(fn, {"train": heldout_reactions()[:1]}, level="GFN2-xTB")
    return fn


def molecule(meta):
    """The first reactant of the data set made of the model's elements (the data set has N too)."""
    known = set(load_pretrained()[0].elements)
    rx = next(r for r in read_transition1x(DATA, "data", "GFN2-xTB") if set(r.numbers.tolist()) <= known)
    return rx.numbers, np.asarray(rx.reactant, float)


def test_calc_nnp_energy_and_forces_match_the_python_potential(tmp_path, capsys):
    jax.config.update("jax_enable_x64", True)
    _, _, meta = load_pretrained()
    Z, R = molecule(meta)
    fn = str(tmp_path / "m.xyz")
    ase.io.write(fn, Atoms(numbers=Z, positions=R))
    code, rep, _ = run_cli(["energy", fn, "--calc", "nnp", "--json"], capsys)
    assert code == 0
    pot = pretrained(Z)
    energy = jax.jit(lambda R: pot.energy_fn(R, pot.system, pot.params))
    R = jnp.asarray(ase.io.read(fn).positions)
    np.testing.assert_allclose(rep["energy"], float(energy(R)), rtol=0, atol=1e-8)
    F = np.asarray(rep["forces"])
    # forces are -dE/dR: central differences of the energy along one coordinate
    h = 1e-5
    dR = jnp.zeros_like(R).at[2, 1].set(h)
    fd = -(float(energy(R + dR)) - float(energy(R - dR))) / (2 * h)
    np.testing.assert_allclose(F[2, 1], fd, rtol=0, atol=1e-6)


@pytest.mark.parametrize("command", ["energy", "neb", "saddle", "irc", "reaction", "explore"])
def test_calc_nnp_refuses_an_unknown_element_on_every_command(command, tmp_path, capsys):
    fn = str(tmp_path / "h2s.xyz")
    ase.io.write(fn, Atoms("SH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))
    args = [fn, fn] if command in ("neb", "reaction") else [fn]
    code, _, err = run_cli([command, *args, "--calc", "nnp"], capsys)
    assert code == 2
    assert "S" in err.split("has")[-1] and "knows only H C N O" in err


def test_calc_nnp_refuses_too_large_charged_and_periodic_structures(tmp_path, capsys):
    _, _, meta = load_pretrained()
    n = int(meta["max_atoms"]) + 1
    big = str(tmp_path / "big.xyz")
    ase.io.write(big, Atoms(numbers=[1] * n, positions=np.arange(3 * n).reshape(n, 3) * 1.5))
    code, _, err = run_cli(["energy", big, "--calc", "nnp"], capsys)
    assert code == 2 and f"at most {meta['max_atoms']} atoms" in err and f"has {n}" in err
    small = str(tmp_path / "h2.xyz")
    ase.io.write(small, Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]]))
    code, _, err = run_cli(["energy", small, "--calc", "nnp", "--charge", "1"], capsys)
    assert code == 2 and "neutral singlet" in err
    cell = str(tmp_path / "h2.extxyz")
    ase.io.write(cell, Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=[6, 6, 6], pbc=True))
    code, _, err = run_cli(["energy", cell, "--calc", "nnp"], capsys)
    assert code == 2 and "periodic" in err
    with pytest.raises(ValueError, match="trained on molecules of at most"):
        pretrained(np.ones(n, int))
    with pytest.raises(ValueError, match="unknown neural-network potential"):
        load_pretrained("no-such-model")


def test_configurations_from_a_build_dataset_file_keep_its_split():
    pytest.importorskip("tblite")
    import h5py

    from jaxrxn.nnp.data import configurations_from_dataset, xtb_labels

    # a small build-dataset file (62 reactions), so that labelling every frame is quick
    data, kinds, split, info = configurations_from_dataset(XTB_SNAPSHOT_62, n_perturbed=1, path_copies=1, sigma=0.05, seed=3)
    rx = read_transition1x(XTB_SNAPSHOT_62, "data", None)
    assert rx[0].energies is None and rx[0].forces is None
    with h5py.File(XTB_SNAPSHOT_62) as f:
        mol_split = np.asarray(f["molecules/split"]).astype(str)
        n_mol = len(f["molecules/index"])
    n_frames = sum(len(r.positions) for r in rx)
    # per reaction: its path, its 3 stationary points and one copy of each; one copy per path
    # frame; per molecule: the relaxed reactant and one copy
    assert len(data) == n_frames + 6 * len(rx) + n_frames + 2 * n_mol == info["n_configurations"]
    assert info["n_labelled"] == 3 * len(rx) + n_frames + n_mol
    np.testing.assert_array_equal(split, mol_split[np.asarray(data.group)])
    # the path frames carry their reactant molecule as group (so its split)
    want = np.concatenate([[int(r.extras["molecule"])] * len(r.positions) for r in rx])
    np.testing.assert_array_equal(np.asarray(data.group)[kinds == "image"], want)
    # perturbed copies are labelled with GFN2-xTB: recompute two of them
    pert = np.flatnonzero(kinds == "perturbed")[[0, -1]]
    for c in pert:
        z = np.asarray(data.numbers[c])
        n = int((z > 0).sum())
        e, f = xtb_labels(z[:n], np.asarray(data.positions[c, :n])[None])
        np.testing.assert_allclose(data.energy[c], e[0], atol=1e-8)
        np.testing.assert_allclose(data.forces[c, :n], f[0], atol=1e-6)
