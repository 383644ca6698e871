"""ReactionNetwork: deduplication, JSON, networkx, rates, disconnectivity graph."""

import numpy as np
import pytest
from helpers import lj7_hexagon

from jaxrxn.explore.network import ReactionNetwork, structure_fingerprint
from jaxrxn.units import KB


def _rotated_permuted(R, angle, perm):
    c, s = np.cos(angle), np.sin(angle)
    return (R @ np.array([[c, -s], [s, c]]).T + np.array([0.3, -1.0]))[perm]


def test_fingerprint_is_permutation_rotation_invariant():
    R = lj7_hexagon()
    R[3] += [0.05, 0.02]
    Q = _rotated_permuted(R, 0.7, [3, 0, 6, 5, 1, 2, 4])
    np.testing.assert_allclose(structure_fingerprint(Q), structure_fingerprint(R), atol=1e-12)
    assert np.max(np.abs(structure_fingerprint(lj7_hexagon(1.2)) - structure_fingerprint(R))) > 0.05


def _toy():
    net = ReactionNetwork()
    R = lj7_hexagon()
    a, new_a = net.add_minimum(R, -12.5349)
    b, _ = net.add_minimum(lj7_hexagon(1.3), -11.5)
    c, _ = net.add_minimum(lj7_hexagon(1.4), -11.4)
    # a relabelled, rotated copy of the hexagon is the same EQ
    same, new = net.add_minimum(_rotated_permuted(R, 1.1, [6, 5, 4, 3, 2, 1, 0]), -12.53491)
    assert new_a and (same, new) == (a, False)
    net.add_transition_state(lj7_hexagon(1.25), -11.0, (a, b), 2.0, 3.0)
    net.add_transition_state(lj7_hexagon(1.35), -10.9, (b, c), 1.0, 1.0)
    k, new = net.add_transition_state(lj7_hexagon(1.35), -10.9, (c, b))
    assert (k, new) == (1, False)
    net.add_channel(lj7_hexagon(3.0), -6.0, a)
    return net


def test_rate_matrix_is_harmonic_tst():
    net = _toy()
    T = 0.1 / KB  # kT = 0.1 eV
    K = net.rate_matrix(T)
    assert K.shape == (3, 3) and np.all(np.diag(K) == 0)
    np.testing.assert_allclose(K[0, 1], 2.0 * np.exp(-(-11.0 + 12.5349) / 0.1), rtol=1e-12)
    np.testing.assert_allclose(K[1, 0], 3.0 * np.exp(-(-11.0 + 11.5) / 0.1), rtol=1e-12)
    np.testing.assert_allclose(K[2, 1], np.exp(-(0.5) / 0.1), rtol=1e-12)
    assert K[0, 2] == 0.0
    np.testing.assert_allclose(net.rate_matrix(T, prefactor=1e13)[0, 1], 1e13 * np.exp(-15.349), rtol=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        net.rate_matrix(-1.0)


def test_json_roundtrip_and_networkx(tmp_path):
    net = _toy()
    f = tmp_path / "net.json"
    net.save(str(f))
    back = ReactionNetwork.load(str(f))
    assert back.summary() == net.summary()
    np.testing.assert_allclose(back.rate_matrix(500.0), net.rate_matrix(500.0))
    g = back.to_networkx()
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 3
    assert g.nodes[("EQ", 0)]["energy"] == -12.5349
    with pytest.raises(ValueError, match="format"):
        ReactionNetwork.from_dict({"minima": []})


def test_disconnectivity(tmp_path):
    net = _toy()
    groups = net.disconnectivity([-10.5, -10.95, -11.45])
    assert [sorted(map(sorted, g)) for g in groups] == [[[0, 1, 2]], [[0, 1], [2]], [[0], [1]]]
    png = tmp_path / "dg.png"
    net.plot_disconnectivity(str(png))
    assert png.stat().st_size > 1000
