"""Path generator from the initial state: a tangent flow plus a deviation-suppressing flow.

After K. Hayashi, S. Takamoto, C. Li, D. Okanohara (and Y. Tsuboi), "Generative model for
constructing reaction path from initial to final states", arXiv:2401.10721 (2024): given
only the initial state (IS), a learned *tangent* field moves a structure along a reaction
path and a learned *deviation-suppressing* (denoising) field pulls it back when it
drifts, so integrating their sum grows a path and ends on a final state (FS). The paper's
own losses could not be read; this module implements the formulation of jaxrxn's notes
(generative.md §1.1) with two changes, stated here:

**Training targets** for a reference MEP ``gamma(s)``, ``s in [0, 1]`` proportional to arc
length (:class:`jaxrxn.generative.data.PathSet`), with ``s ~ U[0, 1 + s_overshoot]``,
``sigma ~ logU[sigma_min, sigma_max]`` and ``x = gamma(s) + sigma P_perp(s) xi`` (``xi``
standard normal, centred over atoms, ``P_perp`` removes the tangent component):

- tangent head ``T(x) ~ gamma'(s)``, the *velocity* in ``s`` (norm = path length, Å),
  rather than the unit tangent, so the field also carries how far to go;
  ``L_T = |T - gamma'(s)|^2``;
- deviation head ``D(x) ~ gamma(s) - x``; ``L_D = |D - (gamma(s) - x)|^2 / (sigma^2 n_dof)``;
- progress head ``p(x) ~ min(s, 1)``; ``L_p = (p - min(s, 1))^2``;
- ``L = L_T + lambda_D L_D + lambda_p L_p``.

*Overshoot* (a jaxrxn addition): samples with ``s > 1`` sit around the FS
(``gamma = FS``, isotropic noise) with targets ``T = 0`` and ``p = 1``. The learned field
therefore comes to rest on the FS instead of running on past it, and the progress head
has a plateau at 1 to stop on, rather than an edge it must hit exactly.

All heads also see the IS (for atoms: the displacement ``x - x_IS`` as an equivariant
input vector), which removes the ambiguity of a path passing through another path's end
point, and a condition ``c`` that is dropped (set to zero with an off flag) with
probability ``p_drop`` so that one model runs in two modes (classifier-free style):

- **conditioned**: ``c`` says where to go (G2: the FS displacement ``FS - IS``; atoms:
  the per-atom FS displacement ``(N, dim)``, as for 2D LJ7 in
  :mod:`jaxrxn.generative.clusters`, or per-atom flags on the atoms that react). With
  the FS displacement the task is the one an interpolation between given end points
  solves, and linear/IDPP interpolation between the same end points is the fair
  baseline (path RMSD, barrier, NEB force calls).
- **unconditioned**: ``cond_on = 0``; the FS is generated from the IS alone, with a
  random ``kick`` to choose among exits (FS validity and diversity are measured here).

**Integration** (a documented fixed-step scheme, explicit Euler in pseudo-time): from
``x_0 = IS + kick``, with ``h = 1/n_steps`` and for ``k = 0 .. max_steps-1``::

    x_{k+1} = x_k + h T(x_k) + eta D(x_k)          while p(x_k) < p_stop
    x_{k+1} = x_k                                   after it (the path has stopped)

Because ``T`` is the velocity in ``s`` (its norm is the path length), ``n_steps`` steps of
``h`` cover the path. **Stopping rule**: the path stops at the first frame whose progress
``p`` reaches ``p_stop`` (default ``1 - h/2``: less than half a step left). ``max_steps``
(default ``1.5 n_steps``) caps the integration; since the field vanishes on the FS (the
overshoot targets), steps taken after the end only settle the point onto it.
The last frame is the FS candidate; :func:`relax_final` relaxes it on a potential and
:func:`refine_path` polishes the whole path with a short CI-NEB.

Symmetry: at a symmetric IS a deterministic equivariant field cannot choose between
equivalent exits, so unconditional sampling breaks the tie with a random ``kick`` (Å);
conditional sampling uses the condition.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from collections.abc import Callable

import equinox as eqx
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from jaxrxn.generative.data import PathSet, centred_noise, resample_by_arc_length
from jaxrxn.generative.nets import EGNN, PaiNN, SurfaceFlowNet
from jaxrxn.generative.training import TrainState, seeded_state, train_or_resume
from jaxrxn.optimize import FIRE, minimize
from jaxrxn.path import NEB, neb
from jaxrxn.potentials.core import Potential


# ---------------------------------------------------------------------------------------
# models: (x, x_is, context, cond, cond_on) -> (T, D, p)
# ---------------------------------------------------------------------------------------
class SurfaceFlow(nn.Module):
    """Flow heads for one particle on a G2 surface (:class:`~jaxrxn.generative.nets.SurfaceFlowNet`).

    ``x``, ``x_is`` ``(1, 2)``; ``context`` the ``(N_SLOTS, 6)`` descriptor; ``cond`` ``(2,)``
    (the wanted FS's displacement ``FS - IS``, Å); ``cond_on`` 0 or 1.
    Returns ``T (1, 2)``, ``D (1, 2)``, ``p ()``.
    """

    features: int = 64

    @nn.compact
    def __call__(self, x, x_is, context, cond, cond_on):
        vec, sc = SurfaceFlowNet(self.features, n_scalar_out=1, n_vector_out=2)(x[0], x_is[0], context, cond, cond_on)
        return vec[0][None], vec[1][None], sc[0]


class AtomisticFlow(nn.Module):
    """Equivariant flow heads for atomistic systems (PaiNN by default, or EGNN).

    ``x``, ``x_is`` ``(N, dim)`` Å; ``context`` species indices ``(N,)`` (< `n_species`; a
    negative number marks a padding atom, which neither sends nor receives messages, gets
    zero ``T`` and ``D`` and no weight in ``p``); ``cond`` either ``(N,)`` per-atom flags
    (e.g. the atoms that should react) or ``(N, dim)`` per-atom vectors, the wanted FS
    displacement ``FS - IS`` (Å; the conditioned mode of
    :func:`jaxrxn.generative.clusters.cluster_pathset`); ``cond_on`` 0/1.

    Equivariant inputs: ``x - x_is`` and, for a vector condition, ``cond`` and the
    remaining displacement ``x_is + cond - x`` (both zeroed when ``cond_on = 0``);
    invariant inputs: the species one-hot, the flags (or the norms of the vector inputs)
    and ``cond_on``. ``T`` and ``D`` have their net translation (over the real atoms)
    removed; ``p`` is the mean of the real atoms' scalars. Equivariant under O(dim),
    permutations (with ``context`` and ``cond`` permuted) and translations.
    """

    backbone: str = "painn"
    features: int = 32
    n_layers: int = 3
    r_cut: float = 5.0
    n_species: int = 10

    @nn.compact
    def __call__(self, x, x_is, context, cond, cond_on):
        n = x.shape[0]
        cond_on = jnp.asarray(cond_on, x.dtype)
        vectors = [x - x_is]
        if cond.ndim == 1:
            extra = (cond * cond_on)[:, None]
        else:
            vectors += [cond * cond_on, (x_is + cond - x) * cond_on]
            extra = jnp.stack([jnp.sqrt(jnp.sum(v**2, -1) + 1e-12) for v in vectors[1:]], -1) * cond_on
        scalars = jnp.concatenate(
            [jax.nn.one_hot(context, self.n_species, dtype=x.dtype), extra, jnp.full((n, 1), cond_on, x.dtype)], axis=-1
        )
        Net = {"painn": PaiNN, "egnn": EGNN}[self.backbone]
        sc, vec = Net(self.features, self.n_layers, r_cut=self.r_cut, n_scalar_out=1, n_vector_out=2)(
            x, scalars, jnp.stack(vectors, axis=1), atom_mask=context >= 0
        )
        real = (context >= 0).astype(x.dtype)
        n_real = jnp.sum(real)
        vec = real[:, None, None] * (vec - jnp.sum(real[:, None, None] * vec, axis=0, keepdims=True) / n_real)
        return vec[:, 0], vec[:, 1], jnp.sum(real * sc[:, 0]) / n_real


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------
class FlowConfig(eqx.Module):
    """Training hyperparameters.

    - `sigma_min`, `sigma_max` (Å): range of the log-uniform perpendicular noise.
    - `s_overshoot`: share of samples past the FS, ``s ~ U[0, 1 + s_overshoot]``.
    - `lambda_D`, `lambda_p`: loss weights. `p_drop`: condition drop-out probability.
    - `batch_size`, `learning_rate` (Adam, cosine decay to 5 %), `n_steps`, `seed`.
    """

    sigma_min: float = 0.005
    sigma_max: float = 0.15
    s_overshoot: float = 0.25
    lambda_D: float = 1.0
    lambda_p: float = 1.0
    p_drop: float = 0.2
    batch_size: int = 128
    learning_rate: float = 2e-3
    n_steps: int = 2000
    seed: int = 0


def path_velocity(path: Float[Array, "M N dim"]) -> Float[Array, "M N dim"]:
    """``d gamma / d s`` at the nodes of a path with ``s`` evenly spaced on ``[0, 1]``
    (central differences inside, one-sided at the ends)."""
    M = path.shape[0]
    inner = (path[2:] - path[:-2]) * (M - 1) / 2
    return jnp.concatenate([(path[1:2] - path[:1]) * (M - 1), inner, (path[-1:] - path[-2:-1]) * (M - 1)])


def path_point(path: Float[Array, "M N dim"], s) -> tuple[Array, Array]:
    """Position and velocity at progress ``s in [0, 1]`` by linear interpolation of nodes."""
    M = path.shape[0]
    u = jnp.clip(s, 0.0, 1.0) * (M - 1)
    k = jnp.clip(jnp.floor(u).astype(int), 0, M - 2)
    f = u - k
    vel = path_velocity(path)
    return (1 - f) * path[k] + f * path[k + 1], (1 - f) * vel[k] + f * vel[k + 1]


def _noisy_sample(key, path, cfg: FlowConfig, mask=None):
    k_s, k_sig, k_xi, k_drop = jax.random.split(key, 4)
    s = jax.random.uniform(k_s, (), path.dtype, 0.0, 1.0 + cfg.s_overshoot)
    sigma = jnp.exp(jax.random.uniform(k_sig, (), path.dtype, math.log(cfg.sigma_min), math.log(cfg.sigma_max)))
    gamma, vel = path_point(path, s)
    xi = centred_noise(k_xi, gamma.shape, path.dtype, mask)
    tau = vel / jnp.maximum(jnp.linalg.norm(vel), 1e-12)
    past = s > 1.0
    xi = jnp.where(past, xi, xi - jnp.vdot(xi, tau) * tau)
    vel = jnp.where(past, 0.0, vel)
    cond_on = (jax.random.uniform(k_drop, ()) >= cfg.p_drop).astype(path.dtype)
    return jnp.minimum(s, 1.0), sigma, gamma, vel, gamma + sigma * xi, cond_on


def flow_loss(model: nn.Module, params, key, data: PathSet, idx, cfg: FlowConfig):
    """Mean loss ``L_T + lambda_D L_D + lambda_p L_p`` over the reactions ``idx`` (one
    random point per reaction), and the three terms as a dict. With ``data.mask``
    (padded molecules) ``L_D``'s degrees of freedom are the real atoms'."""

    def one(key, i):
        path = data.paths[i]
        mask = None if data.mask is None else data.mask[i]
        s, sigma, gamma, vel, x, cond_on = _noisy_sample(key, path, cfg, mask)
        T, D, p = model.apply(params, x, path[0], data.context[i], data.cond[i], cond_on)
        l_T = jnp.sum((T - vel) ** 2)
        n_dof = x.size if mask is None else jnp.sum(mask) * x.shape[-1]
        l_D = jnp.sum((D - (gamma - x)) ** 2) / (sigma**2 * n_dof)
        l_p = (p - s) ** 2
        return jnp.stack([l_T, l_D, l_p])

    terms = jnp.mean(jax.vmap(one)(jax.random.split(key, idx.shape[0]), idx), axis=0)
    total = terms[0] + cfg.lambda_D * terms[1] + cfg.lambda_p * terms[2]
    return total, {"tangent": terms[0], "deviation": terms[1], "progress": terms[2]}


@eqx.filter_jit
def _init_params(model, key, x, context, cond):
    # jitted (the model is static): flax's init run op by op costs far more than one compilation
    return model.init(key, x, x, context, cond, jnp.asarray(1.0, x.dtype))


def init_train_state(model: nn.Module, data: PathSet, cfg: FlowConfig) -> TrainState:
    """Initialise params on the first reaction (seeded by ``cfg.seed``)."""
    return seeded_state(lambda k: _init_params(model, k, data.paths[0, 0], data.context[0], data.cond[0]), cfg)


def train(
    model: nn.Module,
    data: PathSet,
    cfg: FlowConfig = FlowConfig(),
    *,
    state: TrainState | None = None,
    log_every: int = 100,
    callback: Callable[[int, dict], None] | None = print,
    checkpoint: str | os.PathLike | None = None,
    stop_at: int | None = None,
) -> TrainState:
    """Train the flow heads on ``data`` by :func:`flow_loss` (Adam, cosine schedule).

    The loop, progress `callback` (the chunk's mean loss and its tangent, deviation and
    progress terms), `checkpoint`, exact resume and `stop_at` (end early, checkpointed,
    on the schedule of ``cfg.n_steps``) are :func:`jaxrxn.generative.training.fit`'s; a
    loaded `state`, or an existing `checkpoint` file, resumes the run bit for bit.
    """
    return train_or_resume(
        flow_loss, model, data, cfg, lambda: init_train_state(model, data, cfg), state,
        log_every=log_every, callback=callback, checkpoint=checkpoint, stop_at=stop_at,
    )  # fmt: skip


# The generator classes :func:`save_model` writes, by name, with the module that defines
# each (named, not imported: :mod:`jaxrxn.generative.ts_generator` loads its pretrained
# weights through this module, so importing it here would close a circle).
_MODEL_MODULES = {
    "SurfaceFlow": "jaxrxn.generative.flow",
    "AtomisticFlow": "jaxrxn.generative.flow",
    "SurfaceTSFlow": "jaxrxn.generative.ts_generator",
    "AtomisticTSFlow": "jaxrxn.generative.ts_generator",
}


def save_model(path: str | os.PathLike, model: nn.Module, params, **metadata) -> None:
    """Write a trained generator (path flow or TS flow) to ``.npz``: its class and fields
    (JSON), `metadata` (JSON-serialisable, e.g. the training configuration) and every
    parameter array under its flax path (``params/PaiNN_0/...``). :func:`load_model` reads
    it back."""
    name = type(model).__name__
    if name not in _MODEL_MODULES:
        raise ValueError(f"cannot save a {name}; known models: {sorted(_MODEL_MODULES)}.")
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name not in ("parent", "name")}
    arrays = {"/".join(k): np.asarray(v) for k, v in flax.traverse_util.flatten_dict(flax.core.unfreeze(params)).items()}
    header = json.dumps({"model": name, "fields": fields, "metadata": metadata})
    with open(path, "wb") as fh:
        np.savez(fh, __header__=np.array(header), **arrays)


def load_model(path: str | os.PathLike) -> tuple[nn.Module, dict, dict]:
    """Read a model written by :func:`save_model`: ``(model, params, metadata)``."""
    with np.load(path, allow_pickle=False) as data:
        if "__header__" not in data.files:
            raise ValueError(f"{os.fspath(path)!r} is not a jaxrxn flow model (no header).")
        header = json.loads(str(data["__header__"]))
        params = flax.traverse_util.unflatten_dict(
            {tuple(k.split("/")): jnp.asarray(data[k]) for k in data.files if k != "__header__"}
        )
    if header["model"] not in _MODEL_MODULES:
        raise ValueError(f"{os.fspath(path)!r} holds a {header['model']}, not a jaxrxn generator.")
    model = getattr(importlib.import_module(_MODEL_MODULES[header["model"]]), header["model"])
    return model(**header["fields"]), params, header["metadata"]


def load_packaged(table: dict[str, str], name: str, what: str) -> tuple[nn.Module, dict, dict]:
    """The generator `name` of `table` (name -> file in ``jaxrxn/data``), read by
    :func:`load_model` from the package data (offline); ``ValueError`` naming the shipped
    ones for an unknown name. `what` names the kind of generator in that message."""
    from importlib import resources

    if name not in table:
        raise ValueError(f"unknown pretrained {what} {name!r}; shipped: {sorted(table)}.")
    with resources.as_file(resources.files("jaxrxn.data").joinpath(table[name])) as path:
        return load_model(path)


#: Flow generators shipped in ``jaxrxn/data``: name -> file.
PRETRAINED = {"gfn2-xtb": "flow_generator_gfn2_xtb.npz"}


def load_pretrained(name: str = "gfn2-xtb") -> tuple[nn.Module, dict, dict]:
    """A shipped flow generator: ``(model, params, metadata)``.

    ``"gfn2-xtb"``: :class:`AtomisticFlow` trained on the training molecules of the shipped
    GFN2-xTB data set (``jaxrxn/data/xtb_reactions.h5``, paths both ways) by
    ``benchmarks/flow_generator_xtb.py``; ``metadata`` holds the command, seed,
    configuration, held-out metrics, the generation settings (``sample``) and the training
    domain (``elements``, ``max_atoms``: see
    :func:`jaxrxn.generative.ts_generator.check_domain`).
    """
    return load_packaged(PRETRAINED, name, "flow generator")


# ---------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------
def generate(
    model: nn.Module,
    params,
    x_is: Float[Array, "N dim"],
    context,
    cond,
    cond_on,
    key: PRNGKeyArray | None = None,
    *,
    n_steps: int = 40,
    max_steps: int | None = None,
    eta: float = 0.5,
    kick: float = 0.0,
    p_stop: float | None = None,
) -> tuple[Float[Array, "K1 N dim"], Float[Array, " K1"]]:
    """Grow a path from ``x_is`` by the Euler scheme with the progress stop (module docstring).

    `n_steps`: Euler steps of ``h = 1/n_steps`` that cover a whole path; `max_steps` the
    cap (default ``n_steps + n_steps // 2``); `eta` in (0, 1] the share of the predicted
    deviation removed per step; `kick` (Å) the standard deviation of a random initial
    displacement (needs `key`; centred over atoms when ``N > 1``); `p_stop` the progress at
    which the path stops (default ``1 - h/2``; ``inf`` never stops). ``cond_on = 1`` runs
    the conditioned mode, ``0`` the unconditioned one.

    Returns the ``(max_steps + 1, N, dim)`` frames (those after the stop repeat the last
    moving frame, which is harmless for :func:`resample_by_arc_length`) and the progress
    ``p`` at each. Jittable; ``jax.vmap`` over `key` draws several paths per IS.
    """
    max_steps = n_steps + n_steps // 2 if max_steps is None else max_steps
    p_stop = 1.0 - 0.5 / n_steps if p_stop is None else p_stop
    x0 = x_is
    if kick > 0:
        if key is None:
            raise ValueError("a random kick needs a PRNG key.")
        x0 = x_is + kick * centred_noise(key, x_is.shape, x_is.dtype)
    cond_on = jnp.asarray(cond_on, x_is.dtype)

    def body(carry, _):
        x, stopped = carry
        T, D, p = model.apply(params, x, x_is, context, cond, cond_on)
        stopped = stopped | (p >= p_stop)
        x_new = jnp.where(stopped, x, x + T / n_steps + eta * D)
        return (x_new, stopped), (x_new, p)

    (x_last, _), (frames, prog) = jax.lax.scan(body, (x0, jnp.array(False)), None, length=max_steps)
    p_last = model.apply(params, x_last, x_is, context, cond, cond_on)[2]
    return jnp.concatenate([x0[None], frames]), jnp.concatenate([prog, p_last[None]])


@eqx.filter_jit
def _sample_batch(model, params, x_is, numbers, keys, n_steps, eta, kick):
    cond = jnp.zeros(x_is.shape[0], x_is.dtype)
    return jax.vmap(lambda k: generate(model, params, x_is, numbers, cond, 0.0, k, n_steps=n_steps, eta=eta, kick=kick))(keys)


def sample_paths(
    model: nn.Module,
    params,
    x_is: Float[Array, "N 3"],
    numbers,
    key: PRNGKeyArray,
    n_samples: int,
    *,
    n_steps: int = 40,
    kick: float = 0.1,
    eta: float = 0.5,
) -> tuple[Float[Array, "K M N 3"], Float[Array, "K M"]]:
    """`n_samples` paths from a molecule's reactant alone (the unconditioned mode of a
    molecular :class:`AtomisticFlow`, :func:`generate` with a random `kick` in Å per
    sample; keys split from `key`). `x_is` is centred first; `numbers` the atomic numbers.
    Returns the frames ``(K, max_steps + 1, N, 3)`` (Å, centred reactant first, the
    product candidate last) and the progress at each frame."""
    x_is = jnp.asarray(x_is) - jnp.mean(jnp.asarray(x_is), axis=0)
    keys = jax.random.split(key, n_samples)
    return _sample_batch(model, params, x_is, jnp.asarray(numbers), keys, n_steps, eta, kick)


#: Largest number of bonds per element in a sane closed-shell product (H, C, N, O).
MAX_BONDS = {1: 1, 6: 4, 7: 4, 8: 2}


def product_check(numbers, R_is: np.ndarray, R: np.ndarray, bond_scale: float, min_distance: float = 0.6) -> tuple[bool, str]:
    """Is the (relaxed) structure ``R`` a plausible product of the reactant ``R_is`` (same
    atom order)? ``(ok, reason)`` with reason ``"ok"``, ``"atoms too close"`` (a pair
    nearer than `min_distance` Å), ``"valence"`` (an atom with more bonds than
    :data:`MAX_BONDS`, or a bare atom with none: no closed-shell product),
    ``"same bond graph"`` (no reaction) or ``"unknown element"``. Bonds:
    :func:`jaxrxn.reaction.bond_graph` with `bond_scale`."""
    from jaxrxn.reaction import bond_graph

    numbers = np.asarray(numbers, int)
    R, R_is = np.asarray(R, float), np.asarray(R_is, float)
    if not np.all(np.isfinite(R)):
        return False, "not finite"
    d = np.linalg.norm(R[:, None] - R[None], axis=-1) + np.eye(len(R)) * 1e9
    if np.min(d) < min_distance:
        return False, "atoms too close"
    if any(int(z) not in MAX_BONDS for z in numbers):
        return False, "unknown element"
    adj = bond_graph(R, numbers, bond_scale)
    degree = adj.sum(axis=1)
    limits = np.array([MAX_BONDS[int(z)] for z in numbers])
    if np.any(degree > limits) or np.any(degree == 0):
        return False, "valence"
    if np.array_equal(adj, bond_graph(R_is, numbers, bond_scale)):
        return False, "same bond graph"
    return True, "ok"


def relax_final(potential: Potential, R: Float[Array, "N dim"], *, fmax: float = 1e-3, max_steps: int = 2000):
    """Relax a generated final state (FIRE); returns the :class:`jaxrxn.MinimizeResult`."""
    return minimize(potential, R, FIRE(), fmax=fmax, max_steps=max_steps)


def refine_path(
    potential: Potential,
    frames: Float[Array, "K N dim"],
    R_final: Float[Array, "N dim"],
    *,
    n_images: int = 17,
    max_steps: int = 20,
    fmax: float = 0.05,
    solver: NEB = NEB(k=0.1, climb=True),
):
    """Polish a generated path with a short CI-NEB.

    The frames are resampled to `n_images` images equally spaced in arc length, the last
    image is replaced by the relaxed ``R_final`` (NEB needs minima at both ends), and at
    most `max_steps` CI-NEB steps are run. Returns the :class:`jaxrxn.path.NEBResult`.
    """
    band = resample_by_arc_length(frames, n_images)
    band = band.at[-1].set(R_final)
    band = resample_by_arc_length(band, n_images)
    return neb(potential, band, solver, fmax=fmax, max_steps=max_steps)


# ---------------------------------------------------------------------------------------
# metrics (generative.md §4.3)
# ---------------------------------------------------------------------------------------
def path_rmsd(a: Float[Array, "Ma N dim"], b: Float[Array, "Mb N dim"], n_points: int = 21):
    """M3: mean pointwise distance (Å) between two paths after resampling both to
    `n_points` images equally spaced in arc length (no alignment: for model surfaces and
    slabs; align cluster paths first)."""
    ra, rb = resample_by_arc_length(a, n_points), resample_by_arc_length(b, n_points)
    return jnp.mean(jnp.sqrt(jnp.sum((ra - rb) ** 2, axis=(-2, -1))))


def raw_barrier(potential: Potential, path: Float[Array, "M N dim"], n_points: int = 201):
    """M4 raw: max of the true energy along the densified path minus the energy of its
    first image (eV)."""
    dense = resample_by_arc_length(path, n_points)
    E = jax.vmap(potential.energy)(dense)
    return jnp.max(E) - E[0]


# ---------------------------------------------------------------------------------------
# baselines
# ---------------------------------------------------------------------------------------
def nearest_training_path(
    train: PathSet, x_is: Float[Array, "N dim"], x_fs: Float[Array, "N dim"]
) -> Float[Array, "M N dim"]:
    """Retrieval baseline (conditioned mode): the training path whose end points are
    nearest to ``(x_is, x_fs)`` (sum of squared distances, Å²), shifted so that it runs
    from ``x_is`` to ``x_fs`` (its end-point errors blended linearly along the path).
    No alignment (model surfaces; align cluster paths first)."""
    d = jnp.sum((train.paths[:, 0] - x_is) ** 2, axis=(-2, -1)) + jnp.sum((train.paths[:, -1] - x_fs) ** 2, axis=(-2, -1))
    P = train.paths[jnp.argmin(d)]
    t = jnp.linspace(0.0, 1.0, P.shape[0], dtype=P.dtype)[:, None, None]
    return P + (1 - t) * (x_is - P[0]) + t * (x_fs - P[-1])
