"""Checkpoints: a pytree with typed and legacy PRNG keys round-trips exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_with_keys(tmp_path):
    tree = {
        "x": jnp.arange(6.0).reshape(2, 3),
        "n": jnp.array(7),
        "key": jax.random.key(3),
        "keys": jax.random.split(jax.random.key(4), 5),
        "legacy": jax.random.PRNGKey(1),
        "np": np.ones(2, np.float32),
    }
    path = tmp_path / "state.npz"
    save_checkpoint(path, tree)
    like = jax.tree_util.tree_map(lambda x: x, tree)
    back = load_checkpoint(path, like)
    for name in ("x", "n", "legacy", "np"):
        np.testing.assert_array_equal(np.asarray(back[name]), np.asarray(tree[name]))
        assert np.asarray(back[name]).dtype == np.asarray(tree[name]).dtype
    # the loaded keys draw the same numbers as the originals
    assert jax.random.uniform(back["key"]) == jax.random.uniform(tree["key"])
    np.testing.assert_array_equal(
        jax.vmap(jax.random.uniform)(back["keys"]), jax.vmap(jax.random.uniform)(tree["keys"])
    )


def test_mismatched_template_raises(tmp_path):
    path = tmp_path / "s.npz"
    save_checkpoint(path, {"a": jnp.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(path, {"a": jnp.zeros(4)})
    with pytest.raises(ValueError, match="structure"):
        load_checkpoint(path, {"b": jnp.zeros(3)})
