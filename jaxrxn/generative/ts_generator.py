"""Transition-state generator from given end states: flow matching from the IS-FS midpoint to the TS.

In the manner of React-OT (C. Duan, G.-H. Liu, Y. Du, T. Chen, Q. Zhao, H. Jia, C. P. Gomes,
E. A. Theodorou & H. J. Kulik, "Optimal transport for generating transition states in
chemical reactions", Nat. Mach. Intell. (2025), doi:10.1038/s42256-025-01010-0), which
starts from the linear interpolation of reactant and product and transports it
*deterministically* along a straight (optimal-transport) path to the TS, and after
OA-ReactDiff (C. Duan, Y. Du, H. Jia & H. J. Kulik, "Accurate transition state generation
with an object-aware equivariant elementary reaction diffusion model", Nat. Comput. Sci. 3,
1045 (2023)), which generates the TS conditioned on fixed reactant and product. The
objective is conditional flow matching (Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel &
M. Le, "Flow matching for generative modeling", ICLR 2023) with straight, rectified-flow
interpolants (X. Liu, C. Gong & Q. Liu, "Flow straight and fast: learning to generate and
transfer data with rectified flow", ICLR 2023). The formulation is jaxrxn's reading of
those papers (generative.md §1.3-1.4), not a copy of their code.

**Source, target, loss.** For a reaction with initial state ``x_IS``, final state ``x_FS``
and true saddle ``x_TS`` (all ``(N, dim)``, Å) and a system descriptor ``c``:

- source ``x_0 = (x_IS + x_FS) / 2 + sigma xi``, ``xi ~ N(0, I)`` (centred over atoms when
  ``N > 1``), ``sigma = TSFlowConfig.sigma_source`` (Å);
- straight interpolant ``x_t = (1 - t) x_0 + t x_TS``, ``t ~ U[0, 1]``;
- target velocity ``u = x_TS - x_0`` (constant along the interpolant);
- loss ``L = E |v_theta(x_t, t; x_IS, x_FS, c) - u|^2 / N`` (Å² per atom).

**Sampling** (deterministic, few steps): integrate ``dx/dt = v_theta`` from ``t = 0`` at
the midpoint to ``t = 1`` with a fixed-step scheme: explicit Euler or Heun's method (the
explicit trapezoidal rule, second order), ``n_steps`` steps of ``h = 1/n_steps``. Model
evaluations: ``n_steps`` (Euler) or ``2 n_steps`` (Heun). No potential-energy call is made.

**Polishing** (:func:`generate_ts`): the generated point seeds a saddle search on the true
potential (:func:`jaxrxn.saddle.saddle_search`; P-RFO with exact Hessians, or the dimer
with the IS->FS direction as its first mode guess); the result reports force and Hessian
calls and whether the polished point is a first-order saddle (one negative curvature).

**Networks.** :class:`SurfaceTSFlow` for one particle on the random 2D surfaces of
:mod:`jaxrxn.generative.surfaces` (conditioned on the ``(N_SLOTS, 6)`` surface descriptor,
backbone :class:`~jaxrxn.generative.nets.SurfaceFlowNet`); :class:`AtomisticTSFlow` for atoms
(backbone :class:`~jaxrxn.generative.nets.PaiNN`, E(dim)-equivariant: the velocity rotates
with the input; conditioned on species and on the equivariant vectors ``x - x_IS`` and
``x - x_FS``). React-OT's object-aware LEFTNet (separate channels per structure) is not
reproduced; the atomistic net sees the end states only through those two vectors per atom.

Distances between structures (:func:`ts_distance`) are RMSDs over atoms without alignment
(for model surfaces and slabs; align molecules first).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from jaxrxn._results import RESULTS
from jaxrxn.generative.data import ReactionPath, centred_noise, padded_size, resample_by_arc_length, take_rows
from jaxrxn.generative.nets import PaiNN, SurfaceFlowNet, edge_geometry, radial_basis
from jaxrxn.generative.surfaces import params_from_descriptor, surface_from_params
from jaxrxn.generative.training import TrainState, seeded_state, train_or_resume
from jaxrxn.potentials.core import Potential
from jaxrxn.saddle import Dimer, PRFO, hessian_analysis, saddle_search, zero_modes
from jaxrxn.system import System
from jaxrxn.validation import check_configuration, check_same_system


def _time_features(t, dtype):
    t = jnp.asarray(t, dtype)
    return jnp.stack([t, jnp.sin(jnp.pi * t), jnp.cos(jnp.pi * t)])


# ---------------------------------------------------------------------------------------
# models: (x, t, x_is, x_fs, context) -> velocity (N, dim)
# ---------------------------------------------------------------------------------------
class SurfaceTSFlow(nn.Module):
    """Velocity field for one particle on a G2 surface.

    ``x``, ``x_is``, ``x_fs`` ``(1, 2)`` Å; ``t`` scalar in [0, 1]; ``context`` the
    ``(N_SLOTS, 6)`` surface descriptor. Returns the velocity ``(1, 2)`` (Å per unit
    ``t``). The backbone (:class:`~jaxrxn.generative.nets.SurfaceFlowNet`) sees ``x``,
    ``x - x_IS``, the Gaussians relative to ``x`` (values and gradients of each term,
    analytic in the descriptor: no potential call), and as its condition vector
    ``x_FS - x_IS``, ``x_FS - x`` and the time features ``(t, sin pi t, cos pi t)``.
    """

    features: int = 64

    @nn.compact
    def __call__(self, x, t, x_is, x_fs, context):
        cond = jnp.concatenate([x_fs[0] - x_is[0], x_fs[0] - x[0], _time_features(t, x.dtype)])
        vec, _ = SurfaceFlowNet(self.features, n_scalar_out=1, n_vector_out=1)(
            x[0], x_is[0], context, cond, jnp.asarray(1.0, x.dtype)
        )
        return vec[0][None]


def _pair_basis(X: Float[Array, "N dim"], r_cut: float, n_rbf: int) -> Float[Array, "N N n_rbf"]:
    """The radial basis of every interatomic distance of `X` (zero on the diagonal, where
    :func:`~jaxrxn.generative.nets.edge_geometry` puts r = 0)."""
    return radial_basis(edge_geometry(X, r_cut=r_cut)[1], r_cut, n_rbf)


class AtomisticTSFlow(nn.Module):
    """Equivariant velocity field for atoms, PaiNN backbone (any ``dim``).

    ``x``, ``x_is``, ``x_fs`` ``(N, dim)`` Å; ``t`` scalar; ``context`` atomic numbers
    ``(N,)`` (< `n_species`; a negative number marks a padding atom, which neither sends
    nor receives messages and gets zero velocity). Node scalars: one-hot species and the time
    features; node vectors: ``x - x_IS`` and ``x - x_FS``. Returns the velocity ``(N, dim)``
    with its net translation (over the real atoms) removed. Equivariant under O(dim)
    acting on all three structures, permutations (with ``context`` permuted) and common
    translations.

    `v_max` (Å, optional): each atom's velocity ``v`` becomes ``v / (1 + |v| / v_max)``, a
    smooth bound. Molecular IS-FS midpoints can put two atoms a few tenths of an Å apart,
    where an untrained PaiNN's output reaches 10^3 Å and the flow-matching loss 10^8; the
    bound keeps training stable (targets are below ~2 Å per atom).

    `end_state_pairs`: every message filter also sees the radial basis of the pair's
    distance in the IS and in the FS (PaiNN's ``pair_scalars``), so the network reads the
    bonds that break and form directly instead of reconstructing them from the per-atom
    vectors; in the spirit of React-OT's and OA-ReactDiff's object-aware networks, which
    keep one graph per structure. Off by default (the models trained before it had none).
    """

    features: int = 32
    n_layers: int = 3
    r_cut: float = 5.0
    n_species: int = 10
    v_max: float | None = None
    end_state_pairs: bool = False

    @nn.compact
    def __call__(self, x, t, x_is, x_fs, context):
        n = x.shape[0]
        tf = jnp.broadcast_to(_time_features(t, x.dtype), (n, 3))
        scalars = jnp.concatenate([jax.nn.one_hot(context, self.n_species, dtype=x.dtype), tf], axis=-1)
        vectors = jnp.stack([x - x_is, x - x_fs], axis=1)  # (N, 2, dim)
        net = PaiNN(self.features, self.n_layers, r_cut=self.r_cut, n_scalar_out=1, n_vector_out=1)
        pairs = None
        if self.end_state_pairs:
            pairs = jnp.concatenate([_pair_basis(x_is, net.r_cut, net.n_rbf), _pair_basis(x_fs, net.r_cut, net.n_rbf)], axis=-1)
        _, vec = net(x, scalars, vectors, atom_mask=context >= 0, pair_scalars=pairs)
        real = (context >= 0).astype(x.dtype)[:, None]
        v = vec[:, 0]
        if self.v_max is not None:
            v = v / (1.0 + jnp.sqrt(jnp.sum(v**2, axis=-1, keepdims=True) + 1e-12) / self.v_max)
        return real * (v - jnp.sum(real * v, axis=0, keepdims=True) / jnp.sum(real))


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
class TSSet(eqx.Module):
    """Reactions with their transition states, stacked for training and evaluation.

    - `x_is`, `x_fs`, `x_ts` ``(P, N, dim)`` Å: initial state, final state, true saddle.
    - `context` ``(P, ...)``: the system descriptor (G2: ``(P, N_SLOTS, 6)``; atoms:
      atomic numbers ``(P, N)``).
    - `barrier` ``(P,)`` eV: ``E(x_TS) - E(x_IS)``.
    - `seed` ``(P,)`` int: the surface seed or reactant molecule (-1 when unknown), to tell
      held-out data apart.
    - `mask` ``(P, N)`` (optional): 1 for real atoms, 0 for padding (molecules of different
      sizes in one array); ``None`` when every atom is real.
    """

    x_is: Array
    x_fs: Array
    x_ts: Array
    context: Array
    barrier: Array
    seed: Array
    mask: Array | None = None

    def __len__(self) -> int:
        return self.x_is.shape[0]

    def take(self, idx) -> "TSSet":
        """The reactions ``idx`` (an index array or boolean mask) as a new :class:`TSSet`."""
        return take_rows(self, idx)


def surface_ts_set(reactions: Sequence[ReactionPath]) -> TSSet:
    """A :class:`TSSet` from G2 :class:`~jaxrxn.generative.data.ReactionPath` records
    (:func:`~jaxrxn.generative.data.build_surface_paths`).

    The TS is the reaction's climbing image. With the builder's CI-NEB ``fmax = 0.01`` eV/Å
    and Muller-Brown curvatures of ~10^3 eV/Å² it lies ~1e-5 Å from the exact saddle
    (``benchmarks/ts_generator.py`` measures this by P-RFO polishing). The barrier is
    ``E(TS) - E(IS)`` on the surface.
    """
    if len(reactions) == 0:
        raise ValueError("no reactions given.")
    x_is = jnp.stack([jnp.asarray(r.reactant) for r in reactions])
    x_fs = jnp.stack([jnp.asarray(r.product) for r in reactions])
    x_ts = jnp.stack([jnp.asarray(r.transition_state) for r in reactions])
    desc = jnp.stack([jnp.asarray(r.extras["descriptor"]) for r in reactions])

    @jax.jit
    def barriers(d, a, b):
        return jax.vmap(lambda d, a, b: surface_potential(d).energy(b) - surface_potential(d).energy(a))(d, a, b)

    seed = jnp.asarray([int(r.extras.get("seed", -1)) for r in reactions])
    return TSSet(x_is, x_fs, x_ts, desc, barriers(desc, x_is, x_ts), seed)


def canonical_frame(x_is, x_fs, x_ts=None):
    """The frame the molecular TS generator works in (NumPy, Å): the reactant centred, the
    product centred and Kabsch-rotated onto it, and the TS (if given) centred and rotated
    onto their midpoint. Users' end states come in arbitrary frames; this one is the
    least motion between them, as in an IRC. Returns ``(x_is, x_fs)`` or
    ``(x_is, x_fs, x_ts)``."""
    from jaxrxn.geometry import kabsch_rotation_numpy

    centre = lambda X: np.asarray(X, float) - np.mean(X, axis=0)  # noqa: E731
    a, b = centre(x_is), centre(x_fs)
    b = b @ kabsch_rotation_numpy(b, a)
    if x_ts is None:
        return a, b
    t = centre(x_ts)
    return a, b, t @ kabsch_rotation_numpy(t, 0.5 * (a + b))


def molecular_ts_set(reactions: Sequence[ReactionPath], n_atoms: int | None = None, reverse: bool = False) -> TSSet:
    """A padded :class:`TSSet` from molecular reactions of different sizes (e.g.
    ``read_transition1x(FILE, "train", level="GFN2-xTB")`` of the jaxrxn data set).

    Each reaction's reactant, product and TS, in the :func:`canonical_frame`, are padded
    to `n_atoms` (default: the largest) with atoms at the origin; ``context`` holds the
    atomic numbers, -1 for padding, and ``mask`` the real atoms. ``barrier`` is ``E(TS) - E(reactant)`` from
    the stored energies (``extras["ts_index"]``, else the highest frame); ``seed`` the
    reactant molecule (``extras["molecule"]``, else -1). With `reverse`, every reaction
    also appears run backwards (the product as ``x_is``, the same TS, ``barrier`` from the
    product), right after its forward entry: a generator trained on one direction only
    is not symmetric in IS and FS.
    """
    n_atoms = padded_size(reactions, n_atoms)

    def pad(R):
        out = np.zeros((n_atoms, 3))
        out[: len(R)] = R
        return out

    cols: dict[str, list] = {k: [] for k in ("x_is", "x_fs", "x_ts", "context", "barrier", "seed", "mask")}
    for r in reactions:
        n = len(r.numbers)
        t = int(r.extras["ts_index"]) if "ts_index" in r.extras else int(np.argmax(r.energies))
        ends = ((r.reactant, r.product, r.energies[0]), (r.product, r.reactant, r.energies[-1]))
        for x_a, x_b, e_a in ends if reverse else ends[:1]:
            for key, R in zip(("x_is", "x_fs", "x_ts"), canonical_frame(x_a, x_b, r.transition_state)):
                cols[key].append(pad(R))
            cols["context"].append(np.concatenate([np.asarray(r.numbers, int), -np.ones(n_atoms - n, int)]))
            cols["mask"].append(np.arange(n_atoms) < n)
            cols["barrier"].append(float(r.energies[t] - e_a))
            cols["seed"].append(int(r.extras.get("molecule", -1)))
    return TSSet(*(jnp.asarray(np.stack(cols[k])) for k in ("x_is", "x_fs", "x_ts", "context", "barrier", "seed")),
                 jnp.asarray(np.stack(cols["mask"]), jnp.result_type(float)))  # fmt: skip


def surface_potential(context: Float[Array, "n_slots 6"]) -> Potential:
    """The G2 surface :class:`~jaxrxn.Potential` of a descriptor row (vmappable)."""
    return surface_from_params(params_from_descriptor(context))


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------
class TSFlowConfig(eqx.Module):
    """Training hyperparameters.

    - `sigma_source` (Å): standard deviation of the noise added to the midpoint source
      during training (React-OT trains with a small noise too; its value is not known here,
      generative.md §6). 0 gives a purely deterministic source.
    - `batch_size`, `learning_rate` (Adam, cosine decay to 5 %), `n_steps`, `seed`.
    """

    sigma_source: float = 0.02
    batch_size: int = 128
    learning_rate: float = 2e-3
    n_steps: int = 2000
    seed: int = 0


def linear_midpoint(x_is: Float[Array, "N dim"], x_fs: Float[Array, "N dim"]) -> Float[Array, "N dim"]:
    """The midpoint of the straight line IS-FS (the flow's source, and a baseline)."""
    return 0.5 * (x_is + x_fs)


def ts_flow_loss(model: nn.Module, params, key, data: TSSet, idx, cfg: TSFlowConfig):
    """Conditional flow-matching loss (module docstring) averaged over the reactions
    ``idx`` ``(B,)``, one random ``t`` and source noise per reaction. Å² per (real) atom."""

    def one(key, i):
        k_t, k_xi = jax.random.split(key)
        x_is, x_fs, x_ts = data.x_is[i], data.x_fs[i], data.x_ts[i]
        mask = None if data.mask is None else data.mask[i]
        t = jax.random.uniform(k_t, (), x_is.dtype)
        x0 = linear_midpoint(x_is, x_fs) + cfg.sigma_source * centred_noise(k_xi, x_is.shape, x_is.dtype, mask)
        xt = (1.0 - t) * x0 + t * x_ts
        v = model.apply(params, xt, t, x_is, x_fs, data.context[i])
        if mask is None:
            return jnp.sum((v - (x_ts - x0)) ** 2) / x_is.shape[0]
        return jnp.sum(mask[:, None] * (v - (x_ts - x0)) ** 2) / jnp.sum(mask)

    return jnp.mean(jax.vmap(one)(jax.random.split(key, idx.shape[0]), idx))


def init_ts_train_state(model: nn.Module, data: TSSet, cfg: TSFlowConfig) -> TrainState:
    """Initialise params on the first reaction (seeded by ``cfg.seed``)."""
    x = data.x_is[0]
    return seeded_state(lambda k: model.init(k, x, jnp.asarray(0.0, x.dtype), x, data.x_fs[0], data.context[0]), cfg)


def train_ts_flow(
    model: nn.Module,
    data: TSSet,
    cfg: TSFlowConfig = TSFlowConfig(),
    *,
    state: TrainState | None = None,
    log_every: int = 100,
    callback: Callable[[int, dict], None] | None = print,
    checkpoint: str | os.PathLike | None = None,
) -> TrainState:
    """Train the velocity field on ``data`` by the flow-matching loss (:func:`ts_flow_loss`).

    The loop, progress `callback`, `checkpoint` and exact resume are
    :func:`jaxrxn.generative.training.fit`'s; a loaded `state`, or an existing `checkpoint`
    file, resumes the run bit for bit.
    Raises ``ValueError`` for an empty or non-finite training set.
    """
    if data.x_is.shape != data.x_fs.shape or data.x_is.shape != data.x_ts.shape:
        raise ValueError(f"IS, FS and TS shapes differ: {data.x_is.shape}, {data.x_fs.shape}, {data.x_ts.shape}.")
    for name in ("x_is", "x_fs", "x_ts", "context"):
        if not np.all(np.isfinite(np.asarray(getattr(data, name)))):
            raise ValueError(f"the training set's {name} contains NaN or infinite values.")
    return train_or_resume(
        ts_flow_loss, model, data, cfg, lambda: init_ts_train_state(model, data, cfg), state,
        log_every=log_every, callback=callback, checkpoint=checkpoint,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------
def sample_ts(
    model: nn.Module,
    params,
    x_is: Float[Array, "N dim"],
    x_fs: Float[Array, "N dim"],
    context,
    key: PRNGKeyArray | None = None,
    *,
    n_steps: int = 4,
    method: str = "heun",
    sigma: float = 0.0,
) -> tuple[Float[Array, "N dim"], Float[Array, "K N dim"]]:
    """Generate the TS by integrating the learned flow from the IS-FS midpoint.

    Fixed-step ODE integration from ``t = 0`` to 1 (module docstring): `method` ``"euler"``
    (``n_steps`` model calls) or ``"heun"`` (``2 n_steps``). `sigma` (Å) adds source noise
    as in training (needs `key`); the default 0 is React-OT's deterministic sampling.

    Returns the generated TS ``(N, dim)`` and the trajectory ``(n_steps + 1, N, dim)``
    (midpoint first). Jittable and vmappable; raises ``ValueError`` if the IS and FS shapes
    differ and, also under ``jit``, an error if an input holds NaN or inf.
    """
    if method not in ("euler", "heun"):
        raise ValueError(f"unknown method {method!r}; use 'euler' or 'heun'.")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}.")
    x_is, x_fs = jnp.asarray(x_is), jnp.asarray(x_fs)
    if x_is.shape != x_fs.shape:
        raise ValueError(f"IS and FS have different shapes {x_is.shape} and {x_fs.shape}.")
    ok = jnp.all(jnp.isfinite(x_is)) & jnp.all(jnp.isfinite(x_fs)) & jnp.all(jnp.isfinite(jnp.asarray(context)))
    x_is = eqx.error_if(x_is, ~ok, "sample_ts: IS, FS or context contains NaN or inf.")
    x0 = linear_midpoint(x_is, x_fs)
    if sigma > 0:
        if key is None:
            raise ValueError("source noise (sigma > 0) needs a PRNG key.")
        x0 = x0 + sigma * centred_noise(key, x0.shape, x0.dtype)
    h = 1.0 / n_steps

    def v(x, t):
        return model.apply(params, x, t, x_is, x_fs, context)

    def body(x, k):
        t = k * h
        v1 = v(x, t)
        if method == "euler":
            x_new = x + h * v1
        else:
            x_new = x + 0.5 * h * (v1 + v(x + h * v1, t + h))
        return x_new, x_new

    ks = jnp.arange(n_steps, dtype=x0.dtype)
    x1, frames = jax.lax.scan(body, x0, ks)
    return x1, jnp.concatenate([x0[None], frames])


class TSResult(eqx.Module):
    """Outcome of :func:`generate_ts`.

    - `R_generated` ``(N, dim)`` Å: the flow's output; `energy_generated` eV.
    - `R` ``(N, dim)``: the polished TS (the generated one when not polished); `energy` eV;
      `fmax` eV/Å the largest atom force there.
    - `barrier` eV: ``energy - E(x_IS)``; `barrier_generated`: the same at `R_generated`.
    - `saddle_index`: negative curvatures of the Hessian at `R` (zero modes removed);
      `is_saddle`: `R` is a first-order saddle, i.e. its largest atom force is below the
      requested `fmax` and ``saddle_index == 1`` (an unpolished point with index 1 but
      large forces is not one).
    - `converged`: the saddle search met `fmax` at an index-1 point (False when not polished).
    - `result`: the saddle search's code; unpolished, ``successful`` for a first-order
      saddle below `fmax`, ``saddle_wrong_index`` for another index and
      ``step_cap_reached`` (no polishing steps were allowed) for index 1 above `fmax`.
    - `n_force_calls`, `n_hessian_calls`: those of the saddle search (0 when not polished;
      the energies of `R_generated` and of the IS and the final Hessian check are not
      counted); `n_model_calls`: velocity evaluations of the sampler.
    """

    R_generated: Array
    energy_generated: Array
    R: Array
    energy: Array
    fmax: Array
    barrier: Array
    barrier_generated: Array
    saddle_index: Array
    is_saddle: Array
    converged: Array
    n_force_calls: Array
    n_hessian_calls: Array
    n_model_calls: int = eqx.field(static=True)
    result: RESULTS


def polish_ts(
    potential: Potential,
    R0: Float[Array, "N dim"],
    *,
    x_is: Float[Array, "N dim"] | None = None,
    x_fs: Float[Array, "N dim"] | None = None,
    method: str = "prfo",
    fmax: float = 1e-3,
    max_steps: int = 200,
):
    """Saddle search from a TS guess on the true potential (:func:`jaxrxn.saddle.saddle_search`).

    `method` ``"prfo"`` (exact Hessians; :class:`~jaxrxn.saddle.PRFO`) or ``"dimer"``
    (forces only; :class:`~jaxrxn.saddle.Dimer`, first mode guess ``x_FS - x_IS`` when both
    are given). Returns the :class:`~jaxrxn.saddle.SaddleResult` (``converged`` requires
    `fmax` and exactly one negative curvature). Jittable and vmappable.
    """
    if method == "prfo":
        return saddle_search(potential, R0, PRFO(), fmax=fmax, max_steps=max_steps)
    if method == "dimer":
        mode0 = None if x_is is None or x_fs is None else x_fs - x_is
        return saddle_search(potential, R0, Dimer(), fmax=fmax, max_steps=max_steps, mode0=mode0)
    raise ValueError(f"unknown polish method {method!r}; use 'prfo', 'dimer' or None.")


def generate_ts(
    model: nn.Module,
    params,
    potential: Potential,
    x_is: Float[Array, "N dim"],
    x_fs: Float[Array, "N dim"],
    context,
    *,
    n_steps: int = 4,
    method: str = "heun",
    polish: str | None = "prfo",
    fmax: float = 1e-3,
    max_steps: int = 200,
) -> TSResult:
    """Generate the TS between given end states and optionally polish it on the true potential.

    `model`, `params`: a trained velocity field (:func:`train_ts_flow`); `potential`: the
    true surface (used only for polishing and for the reported energies and Hessian check);
    `x_is`, `x_fs` ``(N, dim)`` Å; `context`: the descriptor the model was trained with.
    `n_steps`, `method`: the sampler (:func:`sample_ts`). `polish`: ``"prfo"``, ``"dimer"``
    or ``None``; `fmax` (eV/Å) and `max_steps` for the saddle search (:func:`polish_ts`;
    without polishing, `fmax` only decides `is_saddle`).

    Concrete inputs are validated first (``ValueError`` for NaN/inf, wrong rank, or IS and
    FS of different shapes). Jittable (with `polish` static) and vmappable over the arrays.
    """
    check_configuration(x_is, name="initial state", min_distance=None)
    check_configuration(x_fs, name="final state", min_distance=None)
    check_same_system(x_is, x_fs)
    x_is, x_fs = jnp.asarray(x_is), jnp.asarray(x_fs)
    R_gen, _ = sample_ts(model, params, x_is, x_fs, context, n_steps=n_steps, method=method)
    e_is = potential.energy(x_is)
    e_gen = potential.energy(R_gen)
    zero = jnp.array(0)
    if polish is None:
        R, e = R_gen, e_gen
        fmax_at = jnp.max(jnp.linalg.norm(potential.forces(R), axis=-1))
        index = hessian_analysis(potential, R, zero_modes(potential, R))[0]
        converged, n_f, n_h = jnp.array(False), zero, zero
        is_saddle = (index == 1) & (fmax_at <= fmax)
        result = RESULTS.where(is_saddle, RESULTS.successful, RESULTS.step_cap_reached)
        result = RESULTS.where(index != 1, RESULTS.saddle_wrong_index, result)
    else:
        res = polish_ts(potential, R_gen, x_is=x_is, x_fs=x_fs, method=polish, fmax=fmax, max_steps=max_steps)
        R, e, fmax_at, index = res.R, res.energy, res.fmax, res.saddle_index
        converged, n_f, n_h = res.converged, res.n_force_calls, res.n_hessian_calls
        is_saddle = converged & (index == 1)
        result = res.result
    n_model = n_steps * (2 if method == "heun" else 1)
    return TSResult(R_gen, e_gen, R, e, fmax_at, e - e_is, e_gen - e_is, index, is_saddle, converged, n_f, n_h, n_model, result)


# ---------------------------------------------------------------------------------------
# pretrained generators
# ---------------------------------------------------------------------------------------
#: TS generators shipped in ``jaxrxn/data``: name -> file.
PRETRAINED = {"gfn2-xtb": "ts_generator_gfn2_xtb.npz"}


def load_pretrained(name: str = "gfn2-xtb") -> tuple[nn.Module, dict, dict]:
    """A shipped TS generator: ``(model, params, metadata)``.

    ``"gfn2-xtb"``: :class:`AtomisticTSFlow` trained on the training molecules of the
    shipped GFN2-xTB data set (``jaxrxn/data/xtb_reactions.h5``) by
    ``benchmarks/ts_generator_xtb.py`` (the command, seed and held-out metrics are
    in ``metadata``, as are ``elements`` and ``max_atoms``, its training domain: see
    :func:`check_domain`). Offline: the weights are package data.
    """
    from jaxrxn.generative.flow import load_packaged

    return load_packaged(PRETRAINED, name, "TS generator")


def check_domain(metadata: dict, numbers, what: str = "TS generator") -> None:
    """``ValueError`` unless every element of `numbers` was in the model's training data
    and the molecule has at most twice its largest training size (a network sees only
    neighbours within its cutoff, so a somewhat larger molecule is not extrapolation in
    kind, but nothing much larger was ever checked)."""
    from ase.data import chemical_symbols

    numbers = [int(z) for z in np.asarray(numbers)]
    known = set(metadata["elements"])
    unknown = sorted({chemical_symbols[z] for z in numbers if z not in known})
    if unknown:
        trained = ", ".join(chemical_symbols[z] for z in sorted(known))
        raise ValueError(f"element(s) {', '.join(unknown)} outside the {what}'s training data ({trained}).")
    if len(numbers) > 2 * metadata["max_atoms"]:
        raise ValueError(f"{len(numbers)} atoms: the {what} was trained on molecules of up to {metadata['max_atoms']} atoms.")


class PretrainedTSGuess:
    """A shipped TS generator as the transition-state guess of one molecule's reactions::

        guess = PretrainedTSGuess(numbers)  # the domain is checked here
        res = jaxrxn.find_reaction(R_is, R_fs, xtb, ts_guess=guess)

    :func:`jaxrxn.find_reaction` calls it on the end states it reached (relaxed, unless
    ``relax=False``), so its first saddle search starts from the generator's TS between
    those, then the interpolation's highest image and the band if that saddle does not
    verify (measured at GFN2-xTB on the 223 held-out reactions of the shipped data set:
    the data set's TS verified in 189 against 185 without the guess, 194 against 189
    counting it mirrored or with like atoms renumbered; ``benchmarks/ts_generator_xtb.py``).

    **Arguments:** `numbers` ``(n_atoms,)``: atomic numbers (``ValueError`` here for
    elements or sizes outside the model's training domain, :func:`check_domain`); `name`: a
    shipped model (:func:`load_pretrained`); `n_steps`: Heun steps of :func:`sample_ts`
    (``2 n_steps`` network calls, no energy).

    **Calling** it with the end states ``(n_atoms, 3)`` (Å) gives the generated TS
    ``(n_atoms, 3)`` (NumPy, Å) in the initial state's centred frame
    (:func:`canonical_frame`, the frame the model was trained in); ``jaxrxn generate-ts``
    prints the same structure.
    """

    def __init__(self, numbers, name: str = "gfn2-xtb", n_steps: int = 4):
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1; got {n_steps}.")
        self.model, self.params, self.metadata = load_pretrained(name)
        self.numbers = np.asarray(numbers, int)
        check_domain(self.metadata, self.numbers)
        self.name, self.n_steps = name, n_steps

    @classmethod
    def for_system(cls, system: System, name: str = "gfn2-xtb", n_steps: int = 4) -> PretrainedTSGuess:
        """The generator for the molecule `system` describes; ``ValueError`` for one the
        generator cannot take: no atomic numbers, or a periodic cell (it was trained on
        free molecules), then its domain as in the constructor."""
        if system.numbers is None or system.periodic:
            raise ValueError("the TS generator needs free molecules with atomic numbers (no periodic cell).")
        return cls(system.numbers, name, n_steps)

    def __call__(self, R_initial, R_final) -> np.ndarray:
        R_initial, R_final = np.asarray(R_initial, float), np.asarray(R_final, float)
        if R_initial.shape != R_final.shape or R_initial.shape != (len(self.numbers), 3):
            raise ValueError(f"end states of shape {(len(self.numbers), 3)} expected; got {R_initial.shape} and {R_final.shape}.")
        x_is, x_fs = canonical_frame(R_initial, R_final)
        ts = _sample_pretrained(self.model, self.params, jnp.asarray(x_is), jnp.asarray(x_fs), jnp.asarray(self.numbers), self.n_steps)
        return np.asarray(ts)


@eqx.filter_jit
def _sample_pretrained(model, params, x_is, x_fs, numbers, n_steps: int):
    # one compiled sampler per model and atom count, whichever PretrainedTSGuess calls it
    return sample_ts(model, params, x_is, x_fs, numbers, n_steps=n_steps)[0]


# ---------------------------------------------------------------------------------------
# metrics and baselines
# ---------------------------------------------------------------------------------------
def ts_distance(a: Float[Array, "N dim"], b: Float[Array, "N dim"]):
    """RMSD over atoms (Å), no alignment; for one particle, the Euclidean distance."""
    return jnp.sqrt(jnp.mean(jnp.sum((a - b) ** 2, axis=-1)))


def interpolation_max(potential: Potential, path: Float[Array, "M N dim"], n_points: int = 201):
    """Highest-energy point of a path densified to `n_points` points equally spaced in arc
    length (the "highest image" baseline). Returns ``(R (N, dim), E)``; costs `n_points`
    energy calls."""
    dense = resample_by_arc_length(path, n_points)
    E = jax.vmap(potential.energy)(dense)
    k = jnp.argmax(E)
    return dense[k], E[k]


def nearest_training_ts(
    train: TSSet, x_is: Float[Array, "N dim"], x_fs: Float[Array, "N dim"]
) -> Float[Array, "N dim"]:
    """Retrieval baseline: the TS of the training reaction whose end points are nearest to
    ``(x_is, x_fs)`` (sum of squared distances, Å²), shifted by the end-point errors blended
    at the TS's fractional position ``f`` along IS->FS (its projection, clipped to [0, 1]):
    ``x_TS' + (1 - f)(x_is - x_IS') + f (x_fs - x_FS')``. No alignment; the descriptor is
    not used (as :func:`jaxrxn.generative.flow.nearest_training_path`)."""
    d = jnp.sum((train.x_is - x_is) ** 2, axis=(-2, -1)) + jnp.sum((train.x_fs - x_fs) ** 2, axis=(-2, -1))
    j = jnp.argmin(d)
    a, b, ts = train.x_is[j], train.x_fs[j], train.x_ts[j]
    f = jnp.clip(jnp.vdot(ts - a, b - a) / jnp.maximum(jnp.vdot(b - a, b - a), 1e-300), 0.0, 1.0)
    return ts + (1 - f) * (x_is - a) + f * (x_fs - b)


__all__ = [
    "PretrainedTSGuess",
    "PRETRAINED",
    "AtomisticTSFlow",
    "SurfaceTSFlow",
    "TSFlowConfig",
    "TSResult",
    "TSSet",
    "TrainState",
    "generate_ts",
    "init_ts_train_state",
    "interpolation_max",
    "linear_midpoint",
    "load_pretrained",
    "canonical_frame",
    "check_domain",
    "molecular_ts_set",
    "nearest_training_ts",
    "polish_ts",
    "sample_ts",
    "surface_potential",
    "surface_ts_set",
    "train_ts_flow",
    "ts_distance",
    "ts_flow_loss",
]
