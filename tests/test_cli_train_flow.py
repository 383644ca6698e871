"""``jaxrxn train-flow`` and the atomistic smoke test of the flow generator, on 2D LJ7.

One module-scoped build makes a tiny LJ7-2D path set with jaxrxn itself (random frames and
labellings of the hexagon, vmapped P-RFO from kicks, both sides relaxed, CI-NEB, checked);
the CLI trains an equivariant AtomisticFlow (PaiNN) on the train seeds, and the model is
scored on a held-out seed against linear interpolation. The same training is interrupted
(--stop-at) and resumed (--resume) to check that resuming is bit for bit. The 'surfaces'
mode is run end to end on a few random 2D surfaces.

Reference numbers: the two exits of the hexagon C0 have barriers 1.4946 eps (to C2) and
1.4976 eps (to C1) (rare_events.md §6.3, P-RFO + quench there; Dellago, Bolhuis &
Chandler, J. Chem. Phys. 108, 9236 (1998) for the landscape).
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.cli import main
from jaxrxn.generative.clusters import build_lj7_paths, cluster_path_rmsd, cluster_pathset, lj7_potential
from jaxrxn.generative.data import read_transition1x, surface_pathset, write_transition1x
from jaxrxn.generative.flow import generate, load_model
from jaxrxn.path import linear
from helpers import run_cli

TRAIN, TEST = [0, 1, 2, 3], [10**6]
ARGS = ["--steps", "200", "--batch-size", "32", "--features", "16", "--layers", "1", "--log-every", "100",
        "--learning-rate", "3e-3", "--json"]  # fmt: skip


@pytest.fixture(scope="module")
def lj7_file(tmp_path_factory):
    rx = build_lj7_paths(TRAIN + TEST, classes=[0], n_kicks=12)
    fn = tmp_path_factory.mktemp("lj7") / "lj7.h5"
    write_transition1x(str(fn), {"train": [r for r in rx if int(r.extras["seed"]) < 10**6],
                                 "test": [r for r in rx if int(r.extras["seed"]) >= 10**6]})  # fmt: skip
    return fn


@pytest.fixture(scope="module")
def trained(lj7_file, tmp_path_factory):
    """The CLI run; its JSON report and the model file."""
    out = tmp_path_factory.mktemp("model") / "full.npz"
    code = main(["train-flow", str(lj7_file), "-o", str(out), *ARGS])
    return code, out


def test_lj7_data_set_is_checked_and_matches_the_reference(lj7_file):
    train, test = read_transition1x(str(lj7_file), "train", "jaxrxn"), read_transition1x(str(lj7_file), "test", "jaxrxn")
    assert len(train) >= 8 and len(test) >= 2
    assert not {int(r.extras["seed"]) for r in train} & {int(r.extras["seed"]) for r in test}
    lj = lj7_potential()
    for r in train + test:
        E = r.energies
        assert abs(E[0] - -12.5349) < 1e-4  # the IS is the hexagon C0
        assert int(np.sum((E[1:-1] > E[:-2]) & (E[1:-1] > E[2:]))) == 1  # one maximum
        assert abs(E.max() - float(r.extras["saddle_energy"])) < 1e-3  # crosses the saddle found
        assert int(r.extras["fs_class"]) in (1, 2, 3)
        assert abs(float(lj.energy(jnp.asarray(r.positions[-1]))) - E[-1]) < 1e-9
        assert r.barrier > 1.4946 - 1e-4  # no exit below the lowest one
    # the two lowest exits of the hexagon (rare_events.md §6.3), to C2 and to C1, are found
    barriers = [(r.barrier, int(r.extras["fs_class"])) for r in train]
    assert any(abs(b - 1.4946) < 2e-4 and c == 2 for b, c in barriers)
    assert any(abs(b - 1.4976) < 2e-4 and c == 1 for b, c in barriers)


def test_train_flow_cli_model_beats_linear_on_held_out_lj7(lj7_file, trained):
    code, out = trained
    assert code == 0
    model, params, meta = load_model(out)
    assert meta["kind"] == "atomistic" and meta["steps"] == 200 and type(model).__name__ == "AtomisticFlow"
    test = cluster_pathset(read_transition1x(str(lj7_file), "test", "jaxrxn"))
    gen = jax.jit(jax.vmap(lambda a, c, d: generate(model, params, a, c, d, 1.0, n_steps=20)))
    frames, _ = gen(test.paths[:, 0], test.context, test.cond)
    model_paths = jnp.concatenate([frames, test.paths[:, -1:]], axis=1)
    lin_paths = jax.vmap(lambda a, b: linear(a, b, 21))(test.paths[:, 0], test.paths[:, -1])
    score = jax.jit(jax.vmap(cluster_path_rmsd))
    rm, rl = np.asarray(score(model_paths, test.paths)), np.asarray(score(lin_paths, test.paths))
    # conditioned mode on a held-out frame and labelling: closer to the CI-NEB path than
    # the straight line between the same end points (measured 0.009 vs 0.025 Å/atom)
    assert np.median(rm) < 0.6 * np.median(rl)
    assert np.mean(rm < rl) >= 0.75


def test_train_flow_resumes_bit_for_bit(lj7_file, trained, tmp_path, capsys):
    _, full = trained
    ck, part = tmp_path / "ck.npz", tmp_path / "part.npz"
    code, rep, _ = run_cli(["train-flow", str(lj7_file), "-o", str(part), "--checkpoint", str(ck), "--stop-at", "100", *ARGS], capsys)
    assert code == 1 and not rep["finished"] and rep["step"] == 100
    # an existing checkpoint is never overwritten silently
    code, _, err = run_cli(["train-flow", str(lj7_file), "-o", str(part), "--checkpoint", str(ck), *ARGS], capsys)
    assert code == 2 and "--resume" in err
    code, rep, err = run_cli(["train-flow", str(lj7_file), "-o", str(part), "--checkpoint", str(ck), "--resume", *ARGS], capsys)
    assert code == 0 and rep["resumed_from"] == 100 and rep["step"] == 200 and rep["finished"]
    assert rep["kind"] == "atomistic" and np.isfinite(rep["loss"]) and "step     200" in err  # progress on stderr
    m1, p1, _ = load_model(full)
    m2, p2, _ = load_model(part)
    assert m1 == m2
    leaves1, leaves2 = jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2)
    assert len(leaves1) == len(leaves2) > 0
    for a, b in zip(leaves1, leaves2):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["/nonexistent.h5"], "neither"),
        (["FILE", "--split", "val"], "no split"),
        (["FILE", "--resume"], "--resume needs --checkpoint"),
        (["FILE", "--steps", "0"], "must be positive"),
    ],
)
def test_train_flow_bad_input_exit_2(lj7_file, tmp_path, capsys, extra, message):
    argv = ["train-flow", *[str(lj7_file) if a == "FILE" else a for a in extra], "-o", str(tmp_path / "m.npz")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    err = err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_train_flow_cli_on_built_surfaces_writes_data_and_a_usable_model(tmp_path, capsys):
    """The 'surfaces' mode end to end: the built reactions are saved in the Transition1x
    layout and read back, the loss falls, and the written model grows a finite 2D path."""
    out, data = tmp_path / "sf.npz", tmp_path / "g2.h5"
    argv = ["train-flow", "surfaces", "-o", str(out), "--train-seeds", "4", "--save-data", str(data),
            "--steps", "60", "--batch-size", "16", "--features", "16", "--log-every", "20", "--json"]  # fmt: skip
    code, js, err = run_cli(argv, capsys)
    assert code == 0 and js["finished"] and js["kind"] == "surface" and js["model"] == "SurfaceFlow"
    reactions = read_transition1x(data, "train", "jaxrxn")
    assert js["n_reactions"] == len(reactions) > 0
    losses = [float(line.split()[3]) for line in err.splitlines() if line.strip().startswith("step")]
    assert len(losses) == 3 and losses[-1] < losses[0]
    model, params, _ = load_model(out)
    assert type(model).__name__ == "SurfaceFlow"
    ps = surface_pathset(reactions)
    path, _ = generate(model, params, ps.paths[0, 0], ps.context[0], ps.cond[0], 1.0, jax.random.key(0), n_steps=10)
    assert path.shape[1:] == (1, 2) and bool(jnp.all(jnp.isfinite(path)))
    assert float(jnp.linalg.norm(path[0] - ps.paths[0, 0])) < 1e-12  # the path starts on the IS
