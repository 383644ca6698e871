"""A trainable neural-network potential (flax) with the :class:`Potential` face.

The network is a small invariant message-passing net in the manner of SchNet
(K. T. Schütt et al., J. Chem. Phys. 148, 241722 (2018)): interatomic distances are expanded
in Gaussian radial basis functions, multiplied by a smooth cosine cutoff
(J. Behler, J. Chem. Phys. 134, 074106 (2011)) so the energy and forces go to zero smoothly
at ``r_cutoff``, and continuous filters built from them pass messages between atom features.
Only distances enter, so the same net works in 2D and 3D and is invariant to rotations,
translations and permutations of like atoms.

The potential's ``params`` are the network weights (plus an energy shift and scale), so
``potential.replace(params=...)``, ``jax.grad`` over params and :func:`train_nnp` (optax, on
energies and forces) all act on the same pytree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from jaxrxn.geometry import canonical_cell
from jaxrxn.potentials._graph import edge_geometry
from jaxrxn.potentials.core import Potential
from jaxrxn.system import System, real_numbers
from jaxrxn.validation import check_box


def _shifted_softplus(x):
    return jax.nn.softplus(x) - jnp.log(2.0)


class SchNetEnergy(nn.Module):
    """Invariant message-passing energy ``(R (n_atoms, dim), species (n_atoms,)) -> E``.

    - `n_species`: number of distinct atom types (``species`` holds indices into them).
    - `n_features`: atom feature width. `n_rbf`: Gaussian radial basis size.
    - `n_interactions`: message-passing rounds. `r_cutoff`: Å.

    ``__call__(R, species, system=None)``: the system (if any) gives the periodic cell
    (minimum image; cell wider than 2 ``r_cutoff``) and the padding mask (padding atoms
    send no messages and carry no energy).
    """

    n_species: int = 1
    n_features: int = 32
    n_rbf: int = 20
    n_interactions: int = 2
    r_cutoff: float = 5.0

    @nn.compact
    def __call__(self, R, species, system: System | None = None):
        cell, pbc, mask = (None, None, None) if system is None else (system.cell, system.pbc, system.atom_mask)
        _, r, _, envelope = edge_geometry(R, None if cell is None else cell.astype(R.dtype), pbc, self.r_cutoff, mask)
        centers = jnp.linspace(0.0, self.r_cutoff, self.n_rbf, dtype=R.dtype)
        width = self.r_cutoff / self.n_rbf
        rbf = jnp.exp(-(((r[..., None] - centers) / width) ** 2))

        h = nn.Embed(self.n_species, self.n_features, param_dtype=R.dtype)(species)
        for _ in range(self.n_interactions):
            w = nn.Dense(self.n_features, param_dtype=R.dtype)(rbf)
            w = nn.Dense(self.n_features, param_dtype=R.dtype)(_shifted_softplus(w))
            x = nn.Dense(self.n_features, use_bias=False, param_dtype=R.dtype)(h)
            message = jnp.einsum("ijf,ij,jf->if", w, envelope, x)
            v = _shifted_softplus(nn.Dense(self.n_features, param_dtype=R.dtype)(message))
            h = h + nn.Dense(self.n_features, param_dtype=R.dtype)(v)
        e_atom = nn.Dense(self.n_features // 2, param_dtype=R.dtype)(h)
        e_atom = nn.Dense(1, param_dtype=R.dtype)(_shifted_softplus(e_atom))[:, 0]
        if system is not None and system.atom_mask is not None:
            e_atom = jnp.where(system.atom_mask, e_atom, 0.0)
        return jnp.sum(e_atom)


def neural_potential(
    species: Sequence[int],
    *,
    dim: int = 3,
    r_cutoff: float = 5.0,
    n_features: int = 32,
    n_rbf: int = 20,
    n_interactions: int = 2,
    cell=None,
    pbc=None,
    seed: int = 0,
    dtype=None,
    fixed=None,
    masses=None,
) -> Potential:
    """A freshly initialised :class:`SchNetEnergy` potential for atoms of the given `species`.

    **Arguments:**

    - `species`: per-atom type labels ``(n_atoms,)`` (e.g. atomic numbers), the system's
      ``numbers``; the net embeds each distinct label, looked up inside the energy, so the
      same potential evaluates any system made of these labels (``potential.replace(
      system=...)``, padded batches).
    - `dim`: 2 or 3. `r_cutoff` (Å), `n_features`, `n_rbf`, `n_interactions`: the net.
    - `cell`, `pbc`: periodic cell (rows, Å); it must be wider than 2 ``r_cutoff``.
    - `seed`: initialisation seed. `fixed`: per-atom booleans; `masses`: amu (default 1).

    ``energy = scale * net(R) + shift * n_real_atoms`` (eV) with ``params = {"net",
    "shift", "scale"}``; :func:`train_nnp` sets ``shift`` and ``scale`` from the data first.
    """
    species = np.asarray(species, int).reshape(-1)
    labels = np.unique(species)
    cell, pbc = canonical_cell(cell, pbc, dim)
    if cell is not None:
        check_box(cell, r_cutoff, pbc)
    system = System(species, cell, pbc, fixed=fixed, masses=np.ones(len(species)) if masses is None else masses)
    net = SchNetEnergy(len(labels), n_features, n_rbf, n_interactions, float(r_cutoff))
    energy_fn = _NetEnergy(net, tuple(int(z) for z in labels))
    R_init = jnp.asarray(np.random.default_rng(seed).normal(size=(len(species), dim)), dtype)
    params = {
        "net": net.init(jax.random.PRNGKey(seed), R_init, energy_fn.species_index(system)),
        "shift": jnp.zeros((), dtype),
        "scale": jnp.ones((), dtype),
    }
    return Potential(energy_fn, params, system)


class _NetEnergy:
    """``energy_fn(R, system, params)`` for a flax net over the species `labels`;
    hashable by identity for jit's static key."""

    def __init__(self, net: SchNetEnergy, labels: tuple[int, ...]):
        self.net = net
        self.labels = labels

    def species_index(self, system: System):
        """Index of each atom's label among the net's labels (padding atoms: 0)."""
        return jnp.searchsorted(jnp.asarray(self.labels), real_numbers(system, system.n_atoms))

    def __call__(self, R, system, params):
        if R.shape[0] != system.n_atoms:
            raise ValueError(f"the network potential was built for {system.n_atoms} atoms; got {R.shape[0]}.")
        e = self.net.apply(params["net"], R, self.species_index(system), system)
        n_real = jnp.sum(system.atom_mask).astype(R.dtype)
        return params["scale"] * e + params["shift"] * n_real


def train_nnp(
    potential: Potential,
    R: Float[Array, "n_configs n_atoms dim"],
    energies: Float[Array, " n_configs"],
    forces: Float[Array, "n_configs n_atoms dim"],
    *,
    n_steps: int = 2000,
    batch_size: int = 32,
    learning_rate: float = 5e-3,
    force_weight: float = 1.0,
    energy_weight: float = 1.0,
    seed: int = 0,
    init_from_data: bool = True,
    callback: Callable[[int, float], None] | None = None,
    n_callbacks: int = 10,
) -> tuple[Potential, Float[Array, " n_steps"]]:
    """Fit a network potential's params to reference energies (eV) and forces (eV/Å).

    Loss per minibatch: ``energy_weight * mean((dE / n_atoms)^2) + force_weight *
    mean(dF^2)``. Adam with a cosine-decayed learning rate (optax); steps run in
    ``lax.scan`` in `n_callbacks` chunks, after each of which ``callback(step, loss)`` is
    called (e.g. to print progress). Minibatches are drawn with `seed`.

    With `init_from_data`, ``shift`` is set to the mean energy per atom and ``scale`` to the
    force standard deviation before training, so the net learns O(1) numbers.

    Returns the trained potential and the loss of every step.
    """
    R, energies, forces = (jnp.asarray(x, potential.params["shift"].dtype) for x in (R, energies, forces))
    if R.ndim != 3 or energies.shape != R.shape[:1] or forces.shape != R.shape:
        raise ValueError(
            f"training data must be R (n_configs, n_atoms, dim), energies (n_configs,), forces like R; "
            f"got {R.shape}, {energies.shape}, {forces.shape}."
        )
    n_configs, n_atoms = R.shape[:2]
    params = potential.params
    if init_from_data:
        params = {**params, "shift": jnp.mean(energies) / n_atoms, "scale": jnp.std(forces)}
    batch_size = min(batch_size, n_configs)
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, n_steps, alpha=0.02))

    def energy_and_forces(params, R):
        e, g = jax.value_and_grad(potential.energy_fn)(R, potential.system, params)
        return e, -g

    def loss_fn(params, idx):
        e, f = jax.vmap(energy_and_forces, (None, 0))(params, R[idx])
        e_err = (e - energies[idx]) / n_atoms
        return energy_weight * jnp.mean(e_err**2) + force_weight * jnp.mean((f - forces[idx]) ** 2)

    def step(carry, key):
        params, opt_state = carry
        idx = jax.random.choice(key, n_configs, (batch_size,), replace=False)
        loss, grads = jax.value_and_grad(loss_fn)(params, idx)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def run_chunk(carry, keys):
        return jax.lax.scan(step, carry, keys)

    keys = jax.random.split(jax.random.PRNGKey(seed), n_steps)
    carry, losses = (params, optimizer.init(params)), []
    for chunk in np.array_split(np.arange(n_steps), max(1, min(n_callbacks, n_steps))):
        carry, chunk_losses = run_chunk(carry, keys[chunk])
        losses.append(chunk_losses)
        if callback is not None:
            callback(int(chunk[-1]) + 1, float(chunk_losses[-1]))
    return potential.replace(params=carry[0]), jnp.concatenate(losses)


def save_params(potential: Potential, path) -> None:
    """Write the potential's params to `path` (flax msgpack bytes)."""
    with open(path, "wb") as fh:
        fh.write(flax.serialization.to_bytes(potential.params))


def load_params(potential: Potential, path) -> Potential:
    """A copy of `potential` with params read from `path` (written by :func:`save_params`).

    Raises ``ValueError`` when the file does not match the network's architecture.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        params = flax.serialization.from_bytes(potential.params, data)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} does not hold params for this network: {err}") from None
    shapes = jax.tree_util.tree_map(jnp.shape, potential.params)
    if jax.tree_util.tree_map(jnp.shape, params) != shapes:
        raise ValueError(f"{path} holds params of other shapes than this network's.")
    return potential.replace(params=jax.tree_util.tree_map(jnp.asarray, params))
