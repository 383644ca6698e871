"""Sharding a batch of NEB bands over 4 simulated CPU devices equals plain vmap."""

import os
import subprocess
import sys
import textwrap


def test_sharded_neb_batch_on_four_host_devices():
    code = textwrap.dedent(
        """
        import jax
        jax.config.update("jax_enable_x64", True)
        import numpy as np, jax.numpy as jnp
        import jaxrxn
        from jaxrxn.parallel import sharded_vmap
        from jaxrxn.path import NEB, linear, neb
        assert len(jax.devices()) == 4
        mb = jaxrxn.muller_brown()
        rng = np.random.default_rng(1)
        A, B = np.array([[-0.558224, 1.441726]]), np.array([[0.623499, 0.028038]])
        bands = np.stack([linear(A + 0.02 * rng.standard_normal((1, 2)), B, 7) for _ in range(6)])
        run = lambda p: neb(mb, p, NEB(), fmax=0.05).barrier
        sharded = sharded_vmap(run, bands)
        plain = jax.vmap(run)(jnp.asarray(bands))
        assert sharded.shape == (6,)
        np.testing.assert_allclose(sharded, plain, atol=1e-9)
        # the batch really is spread over the four devices, not gathered on one
        assert len(sharded.sharding.device_set) == 4, sharded.sharding
        print("OK")
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "OK" in out.stdout
