"""SC-AFIR exploration driver on Muller-Brown; checkpoints; the CLI's bad input."""

import numpy as np

import jaxrxn
from jaxrxn.cli import main
from jaxrxn.explore.explorer import AFIRExplorer, ExploreSettings
from jaxrxn.explore.network import ReactionNetwork

MB_A = np.array([[-0.558224, 1.441726]])
# rare_events.md table 0 [run]
MB_MINIMA = {"A": -146.6995, "B": -108.1667, "C": -80.7678}
MB_SADDLES = {"S1": -40.6648, "S2": -72.2489}
SETTINGS = ExploreSettings(alpha_max=400.0, n_alpha=21, n_directions=12, neb_fmax=0.5, descent_step=0.01, saddle_fmax=1e-6)


def _index(net, energy):
    hits = [k for k, m in enumerate(net.minima) if abs(m.energy - energy) < 1e-3]
    assert len(hits) == 1, (energy, net.summary())
    return hits[0]


def test_muller_brown_from_A_alone_finds_B_C_and_both_saddles(tmp_path):
    ckpt = tmp_path / "mb.json"
    ex = AFIRExplorer(jaxrxn.muller_brown(), SETTINGS, checkpoint=str(ckpt))
    # explore A only, then resume from the checkpoint in a fresh explorer
    ex.run(MB_A, max_minima=1)
    assert not ex.finished
    resumed = AFIRExplorer(jaxrxn.muller_brown(), SETTINGS, network=ReactionNetwork.load(str(ckpt)))
    net = resumed.run(max_minima=10)
    assert resumed.finished
    assert len(net.minima) == 3 and len(net.transition_states) == 2
    a, b, c = (_index(net, MB_MINIMA[k]) for k in "ABC")
    ts = {round(t.energy, 3): set(t.minima) for t in net.transition_states}
    np.testing.assert_allclose(sorted(ts), sorted(MB_SADDLES.values()), atol=1e-3)
    assert ts[round(MB_SADDLES["S1"], 3)] == {a, c} and ts[round(MB_SADDLES["S2"], 3)] == {c, b}
    np.testing.assert_allclose(net.minima[b].R, [[0.623499, 0.028038]], atol=1e-4)
    assert ex.stats.force_calls > 0 and resumed.stats.n_bands > 0


def test_cli_explore_bad_input(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "missing.xyz"), "--calc", "lj"]) == 2
    from ase import Atoms

    f = tmp_path / "ar2.xyz"
    Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]]).write(str(f))
    assert main(["explore", str(f), "--calc", "lj", "--gamma", "-5"]) == 2
    assert "gamma" in capsys.readouterr().err


def test_muller_brown_mode_following_alone_finds_B_C_and_both_saddles():
    # no AFIR: mode-following P-RFO uphill along both Hessian modes of each minimum
    settings = ExploreSettings(alpha_max=0.0, n_follow_modes=2, follow_step=0.05, descent_step=0.01, saddle_fmax=1e-6)
    ex = AFIRExplorer(jaxrxn.muller_brown(), settings)
    net = ex.run(MB_A, max_minima=10)
    assert ex.finished and ex.stats.afir_force_calls == 0
    a, b, c = (_index(net, MB_MINIMA[k]) for k in "ABC")
    ts = {round(t.energy, 3): set(t.minima) for t in net.transition_states}
    assert ts[round(MB_SADDLES["S1"], 3)] == {a, c} and ts[round(MB_SADDLES["S2"], 3)] == {c, b}


def test_mc_afir_assembles_ar2_and_ar_into_the_lj3_triangle():
    # two fragments (a bonded LJ pair and a lone atom 3 sigma away) pushed together: the
    # only minimum of LJ3 is the equilateral triangle, 3 pairs at 2^(1/6): exactly -3 eps
    from jaxrxn.explore.explorer import ExploreSettings, mc_afir

    r = 2 ** (1 / 6)
    settings = ExploreSettings(alpha_max=3.0, n_alpha=6, n_images=7)
    net, stats = mc_afir(jaxrxn.lennard_jones(), np.array([[0, 0, 0], [r, 0, 0]]), np.zeros((1, 3)), settings,
                         radii=np.full(3, 0.56), n_samples=2, distance=3.0)  # fmt: skip
    np.testing.assert_allclose(net.minimum_energies, [-3.0], atol=1e-6)
    R = net.minima[0].R
    d = [np.linalg.norm(R[i] - R[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(d, r, atol=1e-3)
    assert stats.n_afir_paths == 2 and stats.afir_force_calls > 0
