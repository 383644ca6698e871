"""The molecular flow generator (path and product from the reactant alone): padded
batches, the product check, the shipped pretrained model, and ``jaxrxn generate-path``
(JSON keys, exit codes)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.generative.data import ReactionPath, molecular_pathset
from jaxrxn.generative.flow import AtomisticFlow, FlowConfig, flow_loss, init_train_state, product_check

BOND_SCALE = 1.3  # jaxrxn.datasets.molecules.BOND_SCALE, the data set's bond rule


def _reaction(numbers, seed, molecule, n_frames=5):
    rng = np.random.default_rng(seed)
    n = len(numbers)
    R0 = rng.normal(size=(n, 3)) * 1.2
    P = R0 + np.linspace(0, 1, n_frames)[:, None, None] * 0.6 * rng.normal(size=(n, 3))
    E = np.sin(np.linspace(0, np.pi, n_frames))
    extras = {"ts_index": np.array(n_frames // 2), "molecule": np.array(molecule)}
    return ReactionPath("X", f"r{seed}", np.asarray(numbers), P, E, np.zeros_like(P), P[0], P[-1], P[n_frames // 2], extras)


def test_padding_changes_nothing_for_the_real_atoms():
    """A padded molecule gets the heads (T, D, p) and the loss of the unpadded one: padding
    atoms send no messages, get zero T and D, no weight in p and none in the loss."""
    small, big = _reaction([8, 1, 1], 0, 3), _reaction([6, 6, 8, 1, 1, 1, 1], 1, 4, n_frames=7)
    alone = molecular_pathset([small], BOND_SCALE, n_points=5, reverse=False)
    padded = molecular_pathset([small, big], BOND_SCALE, n_points=5)
    assert padded.paths.shape == (4, 5, 7, 3) and list(np.asarray(padded.context[0])) == [8, 1, 1, -1, -1, -1, -1]
    np.testing.assert_array_equal(np.asarray(padded.group), [3, 3, 4, 4])
    # the reversed copy runs from the product to the reactant (each in its own frame)
    from jaxrxn.geometry import rmsd_numpy

    assert rmsd_numpy(np.asarray(padded.paths[1, 0, :3]), np.asarray(padded.paths[0, -1, :3])) < 1e-9
    assert rmsd_numpy(np.asarray(padded.paths[1, 0, :3]), np.asarray(padded.paths[0, 0, :3])) > 0.1
    np.testing.assert_allclose(padded.paths[0, :, :3], alone.paths[0], atol=1e-12)
    model = AtomisticFlow(features=8, n_layers=1)
    cfg = FlowConfig(batch_size=1, p_drop=0.0)
    params = init_train_state(model, padded, cfg).params
    x = lambda d: d.paths[0, 2] + 0.05  # noqa: E731
    # compiled: run op by op, the network costs ~500 small compilations (~15 s)
    apply = jax.jit(model.apply)
    loss = jax.jit(lambda params, key, data: flow_loss(model, params, key, data, jnp.array([0]), cfg)[0])
    out_alone = apply(params, x(alone), alone.paths[0, 0], alone.context[0], alone.cond[0], 1.0)
    out_pad = apply(params, x(padded), padded.paths[0, 0], padded.context[0], padded.cond[0], 1.0)
    for a, b in zip(out_alone[:2], out_pad[:2]):
        np.testing.assert_allclose(b[:3], a, atol=1e-12)
        np.testing.assert_array_equal(b[3:], 0.0)
    np.testing.assert_allclose(out_pad[2], out_alone[2], atol=1e-12)
    key = jax.random.PRNGKey(0)
    loss_alone, loss_pad = loss(params, key, alone), loss(params, key, padded)
    np.testing.assert_allclose(loss_pad, loss_alone, rtol=1e-10)
    # the same data without the mask is a different (wrong) loss: the check can fail
    unmasked = padded.__class__(padded.paths, padded.context, padded.cond, padded.barrier, padded.group)
    assert abs(float(loss(params, key, unmasked)) - float(loss_alone)) > 1e-6


# formaldehyde and hydroxycarbene (H-C-O-H), same atom order C, O, H, H; hand-built, Å
H2CO = np.array([[0.0, 0, 0], [1.21, 0, 0], [-0.55, 0.94, 0], [-0.55, -0.94, 0]])
HCOH = np.array([[0.0, 0, 0], [1.32, 0, 0], [-0.55, 0.94, 0], [1.65, 0.90, 0]])
Z_CH2O = np.array([6, 8, 1, 1])


@pytest.mark.parametrize(
    "R, expected",
    [
        (HCOH, (True, "ok")),
        (H2CO + 0.02, (False, "same bond graph")),
        (np.vstack([H2CO[:3], H2CO[2] + [0.4, 0, 0]]), (False, "atoms too close")),
        (np.vstack([H2CO[:3], [[8.0, 0, 0]]]), (False, "valence")),  # a bare H atom
        (np.array([[0.0, 0, 0], [1.3, 0, 0], [1.9, 0.75, 0], [1.9, -0.75, 0]]), (False, "valence")),  # O with three bonds
    ],
)
def test_product_check(R, expected):
    """Hand-built cases: the bonds are those of covalent radii x 1.3 (C 0.76, O 0.66,
    H 0.31 Å; Cordero et al. 2008), e.g. C-H cut-off 1.39 Å, O-H 1.26 Å."""
    assert product_check(Z_CH2O, H2CO, R, BOND_SCALE) == expected


# ---------------------------------------------------------------------------------------
# the shipped pretrained generator and the command
# ---------------------------------------------------------------------------------------
def _held_out():
    """Held-out reactions (test and val molecules) of the shipped data set, smallest
    first, in the order of benchmarks/flow_generator_xtb.py."""
    from jaxrxn.datasets import heldout_reactions

    return sorted(heldout_reactions(), key=lambda r: (len(r.numbers), r.rxn))


def _write(path, numbers, R):
    from ase import Atoms

    Atoms(numbers=numbers, positions=R).write(path)
    return str(path)


def test_pretrained_flow_reproduces_its_recorded_products():
    """The shipped weights load by name, are small, cover the data set's elements and
    generate, from held-out reactants, the products recorded when they were evaluated
    (benchmarks/flow_generator_xtb.py: RMSDs to the reactant of the first samples, seed 0).
    Weights perturbed by 1 % miss them (the check can fail)."""
    from importlib import resources

    from jaxrxn.generative.flow import load_pretrained, sample_paths
    from jaxrxn.geometry import rmsd_numpy

    model, params, meta = load_pretrained("gfn2-xtb")
    assert set(meta["elements"]) <= {1, 6, 7, 8} and meta["max_atoms"] >= 4
    with resources.as_file(resources.files("jaxrxn.data").joinpath("flow_generator_gfn2_xtb.npz")) as path:
        assert path.stat().st_size < 2e6
    by_name = {r.rxn: r for r in _held_out()}
    assert meta["check"]

    def rmsds(params, r, k):
        frames, _ = sample_paths(model, params, r.reactant, r.numbers, jax.random.PRNGKey(0), k, **meta["sample"])
        x0 = r.reactant - np.mean(r.reactant, axis=0)
        return np.array([rmsd_numpy(np.asarray(f[-1]), x0) for f in frames])

    check = meta["check"][0]
    r = by_name[check["rxn"]]
    # 1e-4 Å: the flow integration amplifies rounding, so the products move by up to 1.5e-6 Å
    # when the compiler emits other floating-point code (5e-7 here; 1.5e-6 with LLVM at -O0),
    # while weights changed by 0.1 % move them by 1e-3 to 1.4e-2 Å (measured 2026-12-04)
    np.testing.assert_allclose(rmsds(params, r, check["samples"]), check["product_rmsd_to_reactant"], atol=1e-4)
    broken = jax.tree_util.tree_map(lambda p: p * 1.01, params)
    assert np.max(np.abs(rmsds(broken, r, check["samples"]) - check["product_rmsd_to_reactant"])) > 1e-3
    with pytest.raises(ValueError, match="unknown pretrained flow generator"):
        load_pretrained("no-such-model")


def test_generate_path_command(tmp_path, capsys):
    """``jaxrxn generate-path`` on a held-out reactant: the documented keys, one path per
    sample, exit code 0 exactly when a product is valid; ``-o`` writes the files."""
    from jaxrxn.cli import main

    r = _held_out()[0]
    a = _write(tmp_path / "is.xyz", r.numbers, r.reactant)
    code = main(["generate-path", a, "--samples", "3", "--images", "5", "--json", "-o", str(tmp_path / "out")])
    out = json.loads(capsys.readouterr().out)
    assert {"symbols", "reactant", "model", "samples", "n_valid", "distinct_valid", "converged", "paths"} <= set(out)
    assert len(out["paths"]) == 3 and code == (0 if out["n_valid"] else 1)
    for p in out["paths"]:
        assert {"product", "valid", "reason", "progress", "path"} <= set(p)
        assert np.asarray(p["path"]).shape == (5, len(r.numbers), 3)
        np.testing.assert_allclose(p["path"][-1], p["product"])  # without --calc: the generated product
    x0 = r.reactant - r.reactant.mean(axis=0)
    np.testing.assert_allclose(out["reactant"], x0, atol=1e-6)  # xyz precision
    assert 0 < np.sqrt(np.mean(np.sum((np.asarray(out["paths"][0]["path"][0]) - x0) ** 2, -1))) < 0.5  # the kicked start
    from ase.io import read

    assert len(read(tmp_path / "out" / "path_2.xyz", ":")) == 5
    assert np.allclose(read(tmp_path / "out" / "product_0.xyz").positions, out["paths"][0]["product"])


def test_generate_path_with_xtb(tmp_path, capsys):
    """With ``--calc xtb`` the product is relaxed: energies, force calls, and a valid
    product is a GFN2-xTB structure that passes the product check."""
    pytest.importorskip("tblite")
    from jaxrxn.cli import main

    r = _held_out()[0]
    a = _write(tmp_path / "is.xyz", r.numbers, r.reactant)
    code = main(["generate-path", a, "--samples", "1", "--images", "3", "--calc", "xtb", "--json"])
    out = json.loads(capsys.readouterr().out)
    p = out["paths"][0]
    assert {"product_energy", "reaction_energy", "path_energies", "n_force_calls"} <= set(p)
    assert len(p["path_energies"]) == 3 and p["n_force_calls"] > 3
    assert p["valid"] == (p["reason"] == "ok") and code == (0 if p["valid"] else 1)


def test_generate_path_bad_input_exits_2(tmp_path, capsys):
    from jaxrxn.cli import main

    r = _held_out()[0]
    sulfur = np.array(r.numbers)
    sulfur[0] = 16
    for argv, words in (
        (["generate-path", _write(tmp_path / "s.xyz", sulfur, r.reactant)], "S outside"),
        (["generate-path", str(tmp_path / "missing.xyz")], "does not exist"),
        (["generate-path", _write(tmp_path / "is.xyz", r.numbers, r.reactant), "--samples", "0"], "--samples"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
