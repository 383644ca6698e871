"""Structure diffusion model and reaction paths by latent interpolation (DiG-style).

After the path construction of the Distributional Graphormer (DiG; S. Zheng et al.,
"Predicting equilibrium distributions for molecular systems with deep learning",
Nat. Mach. Intell. 6, 558 (2024)): a diffusion model carries a Gaussian to a distribution
of structures conditioned on a system descriptor; the initial state (IS) and the final
state (FS) are mapped to Gaussian latents, the latents are interpolated, and every
interpolant is decoded into a structure, so the decoded frames form a transition path
with no mechanism given in advance. DiG's own inversion and interpolation settings could
not be read (generative.md §0, §1.2); this module implements jaxrxn's formulation of §1.2:

**Forward process**: the variance-preserving SDE of Y. Song et al., "Score-based
generative modeling through stochastic differential equations", ICLR 2021 (eq. 11 with
the linear schedule of its appendix C):
``dy = -1/2 beta(t) y dt + sqrt(beta(t)) dW``, ``beta(t) = beta_min + t (beta_max -
beta_min)``, ``t in [t_eps, 1]``, with the marginal ``y_t = alpha(t) y_0 + sigma(t) eps``,
``alpha = exp(-1/4 t^2 (beta_max - beta_min) - 1/2 t beta_min)``, ``sigma^2 = 1 - alpha^2``
(:class:`VPSDE`). ``y`` are *model coordinates*: positions in Å shifted and scaled to unit
spread (:class:`DiffusionModel`; atomistic structures are also centred).

**Score model**: an ``eps``-prediction network ``eps_theta(y, t; D)`` with the score
``s = -eps_theta / sigma(t)``, trained by denoising score matching (Song et al., eq. 7,
weight ``lambda(t) = sigma(t)^2``): ``L = E |eps_theta(alpha y_0 + sigma eps, t; D) - eps|^2
/ n_dof``, ``t ~ U[t_eps, 1]``. ``D`` is the system descriptor: the surface parameters for
2D model surfaces (:class:`SurfaceScore`, the DeepSets encoding of
:class:`~jaxrxn.generative.nets.SurfaceFlowNet`), atomic numbers for atomistic systems
(:class:`AtomisticScore`, on the equivariant :class:`~jaxrxn.generative.nets.PaiNN` or
:class:`~jaxrxn.generative.nets.EGNN`).

**Training data: path frames (default) or equilibrium samples.** With
``DiffusionConfig.source = "path"`` the data ``y_0`` are points drawn uniformly in arc length
along the reference MEPs of the training systems (plus ``data_noise`` Å of isotropic noise),
so the learned density is a tube around the MEPs with as much weight at the saddle as at the
minima. With ``"minima"`` they are harmonic-equilibrium samples (isotropic Gaussians of width
``data_noise`` around the IS and FS), which is what DiG trains on. jaxrxn defaults to path
frames because decoding can only land where the model has density: a Boltzmann distribution
has exponentially little weight at the saddle, so a model trained on it must *extrapolate*
across the barrier, and the decoded frames there fall back to whatever the flow map does
between two basins (generative.md §4.4 sets weaker DiG thresholds for exactly this reason).
Trained on path frames, the decoded interpolants and the score-string refinement are pulled
onto the learned MEP tube. ``benchmarks/diffusion_paths.py --source minima`` measures the
alternative.

**Encoding and decoding** are deterministic, by the probability-flow ODE (Song et al.,
eq. 13): ``dy/dt = -1/2 beta(t) (y + s(y, t)) = -1/2 beta(t) (y - eps_theta / sigma)``,
integrated with diffrax's fixed-step **Heun** (2nd order) on the grid
``t_k = (t_eps^(1/rho) + k/K (1 - t_eps^(1/rho)))^rho``, ``k = 0..K`` (``rho = 2``, the
EDM-type spacing of T. Karras et al., NeurIPS 2022, applied to ``t``): the ODE is stiff near
``t_eps`` (rates ~ ``1/(2t)``), and the spacing puts small steps there. Encoding runs
``t_eps -> 1``, decoding ``1 -> t_eps``; the sample is ``y(t_eps)`` itself (no final
denoising step), so encoding and decoding are inverse maps up to the ODE's truncation error
(measured: :func:`round_trip_error`).

**Paths** (:func:`decode_path`): ``z_IS = encode(IS)``, ``z_FS = encode(FS)``, interpolants
``z(a)`` on ``n_frames`` equally spaced ``a in [0, 1]``, linear ``(1-a) z_IS + a z_FS`` or
spherical (``"slerp"``: the directions by slerp over the angle ``w`` between the latents,
the norm interpolated linearly; it keeps the norm of typical high-dimensional Gaussian
latents, which a linear midpoint shrinks by up to ``1/sqrt(2)``). Each interpolant is decoded. The end frames
decode to IS and FS only up to the round-trip error; :func:`decode_path` reports that error
and (by default) pins the end frames to the exact IS and FS. Atomistic frames are centred,
their centroid interpolated linearly between IS and FS; with alignment the FS is first
Kabsch-aligned onto the IS and each interior frame onto its predecessor. 2D surfaces are not
aligned (the surface fixes the frame).

**Refinement**: :func:`score_string` evolves the decoded curve by a string method
(W. E, W. Ren & E. Vanden-Eijnden, J. Chem. Phys. 126, 164103 (2007), the simplified string)
whose force is the learned score at a small time ``t_ref`` (generative.md §1.2; the known
weakness of plain latent interpolation is that it crosses low-density regions, arXiv
2602.22122): each iteration moves every interior image a fraction ``h`` of the way to its
Tweedie denoised estimate (``dy = h sigma^2 s``) and re-spaces the images evenly in arc
length. :func:`neb_from_path` then runs CI-NEB (:func:`jaxrxn.path.neb`) on the true
potential from the (refined) decoded path.

Units: positions Å, energies eV; times ``t`` dimensionless.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import diffrax
import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from jaxrxn.geometry import align as kabsch_align
from jaxrxn.generative.data import PathSet, centred_noise, resample_by_arc_length
from jaxrxn.generative.flow import path_point
from jaxrxn.generative.nets import EGNN, MLP, PaiNN
from jaxrxn.generative.training import TrainState, seeded_state, train_or_resume
from jaxrxn.path import NEB, neb
from jaxrxn.potentials.core import Potential
from jaxrxn.validation import check_configuration, check_same_system


# ---------------------------------------------------------------------------------------
# the forward SDE
# ---------------------------------------------------------------------------------------
class VPSDE(eqx.Module):
    """Variance-preserving SDE with a linear ``beta(t)`` (Song et al., ICLR 2021, eq. 11).

    **Arguments:** `beta_min`, `beta_max` (the noise rate at ``t = 0`` and ``t = 1``, per
    unit time; Song et al.'s 0.1 and 20) and `t_eps` (the smallest time: samples and
    encodings live at ``t_eps``, where ``sigma(t_eps) ~ sqrt(beta_min t_eps)``).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    t_eps: float = 1e-3

    def __check_init__(self):
        if not (0 < self.beta_min < self.beta_max):
            raise ValueError(f"need 0 < beta_min < beta_max; got {self.beta_min}, {self.beta_max}.")
        if not (0 < self.t_eps < 1):
            raise ValueError(f"t_eps must lie in (0, 1); got {self.t_eps}.")

    def beta(self, t):
        """``beta(t)``, the instantaneous noise rate."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t):
        """``log alpha(t) = -1/2 int_0^t beta``."""
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def marginal(self, t):
        """``(alpha(t), sigma(t))`` of ``y_t | y_0 ~ N(alpha y_0, sigma^2 I)``."""
        la = self.log_alpha(t)
        return jnp.exp(la), jnp.sqrt(-jnp.expm1(2.0 * la))

    def time_grid(self, n_steps: int, rho: float = 2.0) -> Float[Array, " n_steps+1"]:
        """Increasing ODE grid ``t_eps = t_0 < ... < t_K = 1`` (module docstring), ``(K+1,)``."""
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1; got {n_steps}.")
        u = jnp.linspace(0.0, 1.0, n_steps + 1)
        a = self.t_eps ** (1.0 / rho)
        return (a + u * (1.0 - a)) ** rho


# ---------------------------------------------------------------------------------------
# networks: (y, x, t, log_sigma, context) -> eps
# ---------------------------------------------------------------------------------------
def time_features(t, log_sigma, n_freq: int = 4):
    """Invariant time embedding ``[t, log sigma, sin(pi k t), cos(pi k t)]_k``, ``(2 + 2 n_freq,)``."""
    k = jnp.arange(1, n_freq + 1, dtype=jnp.result_type(t, float))
    return jnp.concatenate([jnp.stack([t, log_sigma]), jnp.sin(jnp.pi * k * t), jnp.cos(jnp.pi * k * t)])


class SurfaceScore(nn.Module):
    """``eps``-network for one particle on a G2 surface (:mod:`jaxrxn.generative.surfaces`).

    Inputs: ``y`` ``(1, 2)`` model coordinates, ``x`` ``(1, 2)`` the same point in Å, ``t``,
    ``log_sigma`` (scalars) and ``context`` the ``(N_SLOTS, 6)`` descriptor (rows ``A, x0, y0,
    a, b, c``; padded slots ``A = 0``). The Gaussians are encoded as a set (DeepSets, as in
    :class:`~jaxrxn.generative.nets.SurfaceFlowNet`) from their position relative to ``x``,
    their parameters, and each term's value and gradient at ``x`` (analytic functions of the
    descriptor, not potential calls). The exponent is clipped to ``[-30, 3]``: noisy points
    at large ``t`` lie far out, where the repulsive Muller-Brown term grows without bound.
    Returns ``eps`` ``(1, 2)``.
    """

    features: int = 64
    amplitude_scale: float = 100.0

    @nn.compact
    def __call__(self, y, x, t, log_sigma, context):
        A, x0, y0, a, b, c = (context[:, k] for k in range(6))
        dx, dy = x[0, 0] - x0, x[0, 1] - y0
        q = jnp.clip(a * dx**2 + b * dx * dy + c * dy**2, -30.0, 3.0)
        g = A * jnp.exp(q) / self.amplitude_scale
        gx, gy = g * (2 * a * dx + b * dy), g * (b * dx + 2 * c * dy)
        active = (A != 0).astype(y.dtype)[:, None]
        per_gauss = jnp.stack([A / self.amplitude_scale, dx, dy, a, b, c, g, gx, gy], axis=-1)
        enc = jnp.sum(MLP((self.features, self.features))(per_gauss) * active, axis=0)
        grad = jnp.tanh(jnp.stack([jnp.sum(gx), jnp.sum(gy)]) / 10.0)
        temb = MLP((self.features, self.features))(time_features(t, log_sigma))
        h = jnp.concatenate([enc, y[0], grad, temb])
        h = MLP((self.features, self.features, self.features))(h)
        return nn.Dense(2)(nn.silu(h))[None]


class AtomisticScore(nn.Module):
    """Equivariant ``eps``-network for atomistic structures (PaiNN by default, or EGNN).

    ``y`` ``(N, dim)`` centred model coordinates, ``x`` ``(N, dim)`` the same in Å (the
    graph and its cutoff `r_cut` use these), ``context`` atomic numbers ``(N,)`` (<
    `n_species`; -1 on padding atoms, which PaiNN leaves out of the graph and which get a
    zero output: molecules of different sizes in one padded batch). `message_norm` is
    PaiNN's (for molecules, a typical neighbour count). Time enters as invariant node
    scalars. The output has its net translation over the real atoms removed; it is
    equivariant under O(dim), permutations (with ``context``) and translations, in any
    ``dim``.
    """

    backbone: str = "painn"
    features: int = 32
    n_layers: int = 3
    r_cut: float = 5.0
    n_species: int = 10
    message_norm: float = 1.0

    @nn.compact
    def __call__(self, y, x, t, log_sigma, context):
        n = y.shape[0]
        temb = jnp.broadcast_to(time_features(t, log_sigma), (n, 10))
        scalars = jnp.concatenate([jax.nn.one_hot(context, self.n_species, dtype=y.dtype), temb], axis=-1)
        real = (context >= 0)[:, None].astype(y.dtype)
        net_kw = dict(n_scalar_out=1, n_vector_out=1, r_cut=self.r_cut)
        if self.backbone == "painn":
            _, vec = PaiNN(self.features, self.n_layers, **net_kw, message_norm=self.message_norm)(
                x, scalars, y[:, None, :], atom_mask=context >= 0
            )
        else:  # EGNN has no atom mask: unpadded structures only (DiffusionModel.fit checks)
            _, vec = EGNN(self.features, self.n_layers, **net_kw)(x, scalars, y[:, None, :])
        eps = vec[:, 0] * real
        return real * (eps - jnp.sum(eps, axis=0, keepdims=True) / jnp.sum(real))


# ---------------------------------------------------------------------------------------
# the model: network + SDE + coordinate normalisation
# ---------------------------------------------------------------------------------------
class DiffusionModel(eqx.Module):
    """A score network, its forward SDE, and the map between Å and model coordinates.

    ``y = (x - shift) / scale`` for model surfaces (``centre=False``; `shift` ``(dim,)`` Å,
    the mean of the training frames; `scale` Å, their spread), and ``y = (x - centroid(x)) /
    scale`` for atomistic structures (``centre=True``; `shift` is zero). Build it with
    :meth:`fit`. `net` is called as ``net.apply(params, y, x, t, log_sigma, context)``.
    """

    net: nn.Module = eqx.field(static=True)
    sde: VPSDE
    shift: Array
    scale: Array
    centre: bool = eqx.field(static=True, default=False)

    @classmethod
    def fit(cls, net: nn.Module, data: PathSet, sde: VPSDE = VPSDE(), centre: bool = False) -> "DiffusionModel":
        """Shift and scale from the training paths ``data.paths`` ``(P, M, N, dim)`` (their
        real atoms, for a padded set with ``data.mask``; padding needs ``centre``)."""
        P = jnp.asarray(data.paths)
        if data.mask is not None and not (centre and getattr(net, "backbone", "painn") == "painn"):
            raise ValueError("padded molecules (data.mask) need a centred model on the PaiNN backbone.")
        m = jnp.ones(P.shape[:-1] + (1,), P.dtype) if data.mask is None else jnp.asarray(data.mask)[:, None, :, None]
        m = jnp.broadcast_to(m, P.shape[:-1] + (1,))
        if centre:
            P = (P - jnp.sum(m * P, axis=-2, keepdims=True) / jnp.sum(m, axis=-2, keepdims=True)) * m
            shift = jnp.zeros(P.shape[-1], P.dtype)
        else:
            shift = jnp.mean(P.reshape(-1, P.shape[-1]), axis=0)
        scale = jnp.sqrt(jnp.sum(m * (P - shift) ** 2) / (jnp.sum(m) * P.shape[-1]))
        return cls(net, sde, shift, scale, centre)

    def to_model(self, x: Float[Array, "N dim"], mask: Float[Array, " N"] | None = None) -> Float[Array, "N dim"]:
        """Å -> model coordinates (centred first when ``centre``: on the real atoms of
        `mask`, padding atoms set to zero)."""
        if self.centre:
            if mask is None:
                x = x - jnp.mean(x, axis=0, keepdims=True)
            else:
                m = mask[:, None].astype(x.dtype)
                x = m * (x - jnp.sum(m * x, axis=0, keepdims=True) / jnp.sum(m))
        return (x - self.shift) / self.scale

    def from_model(self, y: Float[Array, "N dim"]) -> Float[Array, "N dim"]:
        """Model coordinates -> Å (centred structures stay centred)."""
        return y * self.scale + self.shift

    def eps(self, params, y: Float[Array, "N dim"], t, context) -> Float[Array, "N dim"]:
        """The predicted noise ``eps_theta(y, t; context)``."""
        _, sigma = self.sde.marginal(t)
        return self.net.apply(params, y, self.from_model(y), t, jnp.log(sigma), context)

    def score(self, params, y: Float[Array, "N dim"], t, context) -> Float[Array, "N dim"]:
        """``s_theta = grad_y log p_t(y) ~ -eps_theta / sigma(t)`` in model coordinates."""
        return -self.eps(params, y, t, context) / self.sde.marginal(t)[1]

    def pf_velocity(self, params, y, t, context):
        """Probability-flow ODE right-hand side ``-1/2 beta(t) (y - eps_theta / sigma)``."""
        _, sigma = self.sde.marginal(t)
        return -0.5 * self.sde.beta(t) * (y - self.eps(params, y, t, context) / sigma)


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------
class DiffusionConfig(eqx.Module):
    """Training hyperparameters.

    - `source`: ``"path"`` (points uniform in arc length along the training MEPs) or
      ``"minima"`` (harmonic-equilibrium samples around the IS and FS); see the module
      docstring for why paths are the default.
    - `data_noise` (Å): isotropic noise added to each data point (the tube width for
      ``"path"``, the thermal width for ``"minima"``; ``"minima"`` needs it > 0).
    - `t_power`: training times ``t = t_eps + (1 - t_eps) u^t_power``, ``u ~ U[0, 1]``;
      1 is Song et al.'s uniform ``t``, larger values put more samples at small ``t``, where
      the decoded structures are shaped.
    - `batch_size`, `learning_rate` (Adam, cosine decay to 5 %, gradient clipping at 10),
      `n_steps`, `seed`.
    """

    source: str = "path"
    data_noise: float = 0.0
    t_power: float = 1.0
    batch_size: int = 128
    learning_rate: float = 2e-3
    n_steps: int = 2000
    seed: int = 0

    def __check_init__(self):
        if self.source not in ("path", "minima"):
            raise ValueError(f"source must be 'path' or 'minima'; got {self.source!r}.")
        if self.source == "minima" and self.data_noise <= 0:
            raise ValueError("source='minima' needs a thermal width data_noise > 0 (Å).")


def sample_structure(
    key: PRNGKeyArray, path: Float[Array, "M N dim"], cfg: DiffusionConfig, mask: Float[Array, " N"] | None = None
) -> Float[Array, "N dim"]:
    """One training structure (Å) from a reference path, per ``cfg.source`` and
    ``cfg.data_noise`` (no noise on the padding atoms of `mask`)."""
    k_s, k_n = jax.random.split(key)
    if cfg.source == "path":
        x = path_point(path, jax.random.uniform(k_s, (), path.dtype))[0]
    else:
        x = jnp.where(jax.random.bernoulli(k_s), path[-1], path[0])
    noise = jax.random.normal(k_n, x.shape, path.dtype)
    return x + cfg.data_noise * (noise if mask is None else noise * mask[:, None])


def _noise(key, shape, dtype, centre: bool, mask=None):
    if centre:
        return centred_noise(key, shape, dtype, mask)
    eps = jax.random.normal(key, shape, dtype)
    return eps if mask is None else eps * mask[:, None]


def dsm_loss(dm: DiffusionModel, params, key: PRNGKeyArray, data: PathSet, idx, cfg: DiffusionConfig):
    """Denoising score matching loss (``eps``-prediction, Song et al. 2021 eq. 7 with
    ``lambda = sigma^2``), the mean over the reactions ``idx`` ``(B,)`` of
    ``|eps_theta(alpha y_0 + sigma eps, t) - eps|^2 / n_dof``, ``t ~ U[t_eps, 1]`` (or skewed
    to small ``t`` by ``cfg.t_power``). With ``data.mask`` (padded molecules), ``n_dof``
    counts the real atoms' coordinates only."""

    def one(key, i):
        k_x, k_t, k_e = jax.random.split(key, 3)
        mask = None if data.mask is None else data.mask[i]
        y0 = dm.to_model(sample_structure(k_x, data.paths[i], cfg, mask), mask)
        u = jax.random.uniform(k_t, (), y0.dtype)
        t = dm.sde.t_eps + (1.0 - dm.sde.t_eps) * u**cfg.t_power
        alpha, sigma = dm.sde.marginal(t)
        eps = _noise(k_e, y0.shape, y0.dtype, dm.centre, mask)
        pred = dm.eps(params, alpha * y0 + sigma * eps, t, data.context[i])
        if mask is None:
            return jnp.mean((pred - eps) ** 2)
        return jnp.sum((pred - eps) ** 2 * mask[:, None]) / (jnp.sum(mask) * y0.shape[-1])

    return jnp.mean(jax.vmap(one)(jax.random.split(key, idx.shape[0]), idx))


def init_train_state(dm: DiffusionModel, data: PathSet, cfg: DiffusionConfig) -> TrainState:
    """Initialise params on the first reaction (seeded by ``cfg.seed``)."""
    y = dm.to_model(data.paths[0, 0])
    t = jnp.asarray(0.5, y.dtype)
    return seeded_state(lambda k: dm.net.init(k, y, dm.from_model(y), t, jnp.log(dm.sde.marginal(t)[1]), data.context[0]), cfg)


def train(
    dm: DiffusionModel,
    data: PathSet,
    cfg: DiffusionConfig = DiffusionConfig(),
    *,
    state: TrainState | None = None,
    log_every: int = 100,
    callback: Callable[[int, dict], None] | None = print,
    checkpoint: str | os.PathLike | None = None,
) -> TrainState:
    """Train the score network by denoising score matching (:func:`dsm_loss`) with Adam.

    The loop, progress `callback`, `checkpoint` and exact resume are
    :func:`jaxrxn.generative.training.fit`'s; a loaded `state`, or an existing `checkpoint`
    file, resumes the run bit for bit.
    """
    return train_or_resume(
        dsm_loss, dm, data, cfg, lambda: init_train_state(dm, data, cfg), state,
        log_every=log_every, callback=callback, checkpoint=checkpoint,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# probability-flow ODE: encode / decode
# ---------------------------------------------------------------------------------------
@eqx.filter_jit
def _solve(dm: DiffusionModel, params, y0, context, n_steps: int, rho: float, forward: bool):
    ts = dm.sde.time_grid(n_steps, rho).astype(y0.dtype)
    ts = ts if forward else ts[::-1]
    term = diffrax.ODETerm(lambda t, y, args: dm.pf_velocity(params, y, t, context))
    sol = diffrax.diffeqsolve(
        term, diffrax.Heun(), t0=ts[0], t1=ts[-1], dt0=None, y0=y0,
        stepsize_controller=diffrax.StepTo(ts), saveat=diffrax.SaveAt(t1=True), max_steps=n_steps,
    )  # fmt: skip
    return sol.ys[0]


def encode(dm: DiffusionModel, params, x: Float[Array, "N dim"], context, *, n_steps: int = 200, rho: float = 2.0):
    """Latent ``z`` ``(N, dim)`` of the structure ``x`` (Å): the probability-flow ODE from
    ``t_eps`` to 1 (Heun, `n_steps` steps on :meth:`VPSDE.time_grid` ``(n_steps, rho)``).
    Jitted (one compilation per `n_steps`); composes with ``jax.jit`` and ``jax.vmap``."""
    check_configuration(x, name="x", min_distance=None)
    return _solve(dm, params, dm.to_model(jnp.asarray(x)), context, n_steps, rho, True)


def decode(dm: DiffusionModel, params, z: Float[Array, "N dim"], context, *, n_steps: int = 200, rho: float = 2.0):
    """Structure (Å) of the latent ``z``: the probability-flow ODE from 1 to ``t_eps``
    (centred when ``dm.centre``). Inverse of :func:`encode` up to the ODE error."""
    check_configuration(z, name="z", min_distance=None)
    return dm.from_model(_solve(dm, params, jnp.asarray(z), context, n_steps, rho, False))


def round_trip_error(dm: DiffusionModel, params, x: Float[Array, "N dim"], context, *, n_steps: int = 200):
    """D1: RMS distance per atom (Å), ``sqrt(mean_atoms |x - x'|^2)``, between ``x`` and
    ``x' = decode(encode(x))`` with `n_steps` Heun steps each way (for centred models, of the
    centred ``x``)."""
    x = jnp.asarray(x)
    ref = x - jnp.mean(x, axis=0, keepdims=True) if dm.centre else x
    back = decode(dm, params, encode(dm, params, x, context, n_steps=n_steps), context, n_steps=n_steps)
    return jnp.sqrt(jnp.mean(jnp.sum((back - ref) ** 2, axis=-1)))


# ---------------------------------------------------------------------------------------
# latent interpolation and decoded paths
# ---------------------------------------------------------------------------------------
def interpolate_latents(
    z0: Float[Array, "N dim"], z1: Float[Array, "N dim"], n_frames: int, method: str = "linear"
) -> Float[Array, "n_frames N dim"]:
    """``n_frames`` latents from ``z0`` to ``z1`` (both included), ``a`` evenly spaced.

    ``"linear"``: ``(1-a) z0 + a z1``. ``"slerp"``: the unit directions ``u0, u1`` by
    ``sin((1-a) w)/sin(w) u0 + sin(a w)/sin(w) u1`` (``w`` the angle between the flattened
    latents; linear when ``w < 1e-6``) times the linearly interpolated norm
    ``(1-a)|z0| + a|z1|``; for equal norms this is the classic slerp, and unlike it, it
    stays bounded for latents of different norms at nearly opposite directions.
    """
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp'; got {method!r}.")
    if n_frames < 2:
        raise ValueError(f"n_frames must be >= 2; got {n_frames}.")
    a = jnp.linspace(0.0, 1.0, n_frames, dtype=jnp.result_type(z0, float))[:, None, None]
    lin = (1 - a) * z0 + a * z1
    if method == "linear":
        return lin
    n0, n1 = jnp.linalg.norm(z0), jnp.linalg.norm(z1)
    u0, u1 = z0 / jnp.maximum(n0, 1e-300), z1 / jnp.maximum(n1, 1e-300)
    w = jnp.arccos(jnp.clip(jnp.vdot(u0, u1), -1.0, 1.0))
    small = w < 1e-6
    sw = jnp.where(small, 1.0, jnp.sin(w))
    sl = ((1 - a) * n0 + a * n1) * (jnp.sin((1 - a) * w) * u0 + jnp.sin(a * w) * u1) / sw
    return jnp.where(small, lin, sl)


class DecodedPath(eqx.Module):
    """Output of :func:`decode_path`.

    - `path` ``(n_frames, N, dim)`` Å, IS first (end frames pinned to IS/FS when asked).
    - `latents` ``(n_frames, N, dim)``, the interpolated latents that were decoded.
    - `end_error` ``(2,)`` Å: RMS distance per atom of the *decoded* first and last frames
      from IS and FS before any pinning (D2).
    """

    path: Array
    latents: Array
    end_error: Array


def decode_path(
    dm: DiffusionModel,
    params,
    x_is: Float[Array, "N dim"],
    x_fs: Float[Array, "N dim"],
    context,
    *,
    n_frames: int = 21,
    method: str = "linear",
    n_steps: int = 200,
    pin_ends: bool = True,
    align: bool | None = None,
) -> DecodedPath:
    """A transition path by latent interpolation between the encoded IS and FS (DiG).

    Encodes both end states, interpolates `n_frames` latents (`method` ``"linear"`` or
    ``"slerp"``, :func:`interpolate_latents`), decodes each with the probability-flow ODE
    (`n_steps` Heun steps). For centred (atomistic) models the frames get the centroid
    interpolated linearly between IS and FS. With `align` (default: ``dm.centre``; not for
    model surfaces or slabs) the FS is first Kabsch-aligned onto the IS, so the path ends on
    that rigidly moved copy of ``x_fs``, and the interior frames are aligned onto their
    predecessors. With `pin_ends` the first and last frames are replaced by the IS and FS
    exactly (NEB needs its end points on the minima); the unpinned distances are in
    ``end_error``. Jitted (one compilation per setting), vmappable over the array
    arguments.
    """
    check_configuration(x_is, name="x_is", min_distance=None)
    check_configuration(x_fs, name="x_fs", min_distance=None)
    check_same_system(x_is, x_fs, names=("x_is", "x_fs"))
    x_is, x_fs = jnp.asarray(x_is), jnp.asarray(x_fs)
    align = dm.centre if align is None else align
    return _decode_path(dm, params, x_is, x_fs, context, n_frames, method, n_steps, pin_ends, align)


@eqx.filter_jit
def _decode_path(dm, params, x_is, x_fs, context, n_frames, method, n_steps, pin_ends, align):
    if align:
        x_fs = kabsch_align(x_fs, x_is)
    enc = jax.vmap(lambda x: encode(dm, params, x, context, n_steps=n_steps))
    z = enc(jnp.stack([x_is, x_fs]))
    lat = interpolate_latents(z[0], z[1], n_frames, method)
    frames = jax.vmap(lambda zz: decode(dm, params, zz, context, n_steps=n_steps))(lat)
    a = jnp.linspace(0.0, 1.0, n_frames, dtype=frames.dtype)[:, None, None]
    if dm.centre:
        frames = frames + (1 - a) * jnp.mean(x_is, axis=0) + a * jnp.mean(x_fs, axis=0)
    err = jnp.stack([
        jnp.sqrt(jnp.mean(jnp.sum((frames[0] - x_is) ** 2, -1))),
        jnp.sqrt(jnp.mean(jnp.sum((frames[-1] - x_fs) ** 2, -1))),
    ])  # fmt: skip
    if pin_ends:
        frames = frames.at[0].set(x_is).at[-1].set(x_fs)
    if align:
        # interior frames onto their predecessors; the ends stay where they are
        def body(prev, R):
            R = kabsch_align(R, prev)
            return R, R

        _, inner = jax.lax.scan(body, frames[0], frames[1:-1])
        frames = jnp.concatenate([frames[:1], inner, frames[-1:]])
    return DecodedPath(frames, lat, err)


def score_string(
    dm: DiffusionModel,
    params,
    path: Float[Array, "M N dim"],
    context,
    *,
    t_ref: float = 0.03,
    h: float = 0.3,
    n_iter: int = 50,
) -> Float[Array, "M N dim"]:
    """Refine a path by a simplified string method on the learned score (E, Ren &
    Vanden-Eijnden, JCP 126, 164103 (2007)).

    Each of `n_iter` iterations moves every interior image by ``h sigma(t_ref)^2
    s_theta(y, t_ref)`` in model coordinates, a fraction `h` (0 < h <= 1) of the way to its
    Tweedie denoised estimate, towards the learned density (the MEP tube for a path-trained
    model, the basins' Boltzmann force for an equilibrium-trained one), then re-spaces the
    images evenly in arc length (end points fixed). `t_ref` sets the smoothing: the score
    at ``t_ref`` is that of the data convolved with ``sigma(t_ref)`` (model units).
    Returns the refined ``(M, N, dim)`` path (Å). Jitted; vmappable.
    """
    if not (0 < h <= 1):
        raise ValueError(f"the string step h must lie in (0, 1]; got {h}.")
    return _score_string(dm, params, jnp.asarray(path), context, t_ref, h, n_iter)


@eqx.filter_jit
def _score_string(dm, params, path, context, t_ref, h, n_iter):
    _, sigma = dm.sde.marginal(jnp.asarray(t_ref))
    M = path.shape[0]

    def body(P, _):
        inner = P[1:-1]
        y = jax.vmap(dm.to_model)(inner)
        dy = -h * sigma * jax.vmap(lambda yy: dm.eps(params, yy, t_ref, context))(y)
        P = P.at[1:-1].set(inner + dy * dm.scale)
        return resample_by_arc_length(P, M), None

    out, _ = jax.lax.scan(body, path, None, length=n_iter)
    return out


def neb_from_path(
    potential: Potential,
    path: Float[Array, "M N dim"],
    *,
    n_images: int = 17,
    solver: NEB = NEB(k=0.1, climb=True),
    fmax: float = 0.05,
    max_steps: int = 1000,
):
    """CI-NEB on the true potential started from a (decoded, refined) path resampled to
    `n_images` images equally spaced in arc length; the path's end points must be minima.
    Returns the :class:`jaxrxn.path.NEBResult`."""
    return neb(potential, resample_by_arc_length(jnp.asarray(path), n_images), solver, fmax=fmax, max_steps=max_steps)

