"""Training the neural-network potential on energies and forces (optax), with validation,
early stopping and checkpoints that resume bit for bit.

The minibatch steps are :func:`jaxrxn.generative.training.fit`, the loop the generative
models share (Adam, cosine decay, gradient clipping, jitted ``lax.scan`` chunks); this
module adds the loss, validation every ``eval_every`` steps, keeping the best parameters,
stopping after ``patience`` validations without improvement, and a checkpoint of all of it.

Loss per minibatch of configurations (padding atoms excluded)::

    energy_weight * mean_c ((E_c - E_c^ref) / n_c)^2 + force_weight * mean_{c,i,a} (F - F^ref)^2

with energies in eV (per atom) and forces in eV/Å.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn.checkpoint import load_checkpoint, save_checkpoint
from jaxrxn.generative.training import TrainState, fit, new_train_state
from jaxrxn.nnp.data import Configurations, SizeBuckets, split_by_size
from jaxrxn.nnp.model import NNPEnergy, batch_energy_and_forces, check_elements, fit_shifts


class NNPConfig(eqx.Module):
    """Training settings: configurations per step `batch_size`, Adam `learning_rate`
    (cosine decay to 5 % over `n_steps`), `seed` (initialisation and minibatches), loss
    weights `energy_weight` (on (eV/atom)^2) and `force_weight` (on (eV/Å)^2).

    `size_buckets` > 1 groups the configurations by atom count
    (:func:`jaxrxn.nnp.data.split_by_size`) and draws every minibatch from one bucket,
    padded to that bucket's size only: each configuration is still drawn with probability
    ``1 / len(train)`` per slot (the bucket with probability proportional to its size, then
    uniformly within it), but a step on small molecules costs less (PaiNN 64x3, batch 16,
    the shipped data set's 4-18 atoms: 2 buckets make steps 1.5x faster in float64, 1.3-1.4x
    in float32, 4 hardly faster than 2; each bucket adds a branch to compile;
    ``benchmarks/nnp_train_speed.py``). The minibatches then differ from those of 1 bucket."""

    batch_size: int = 32
    learning_rate: float = 2e-3
    n_steps: int = 5000
    seed: int = 0
    energy_weight: float = 1.0
    force_weight: float = 1.0
    size_buckets: int = 1


class NNPTrainState(eqx.Module):
    """The optimiser's :class:`TrainState` plus early stopping's memory: the best
    validation loss so far, its params and step, and validations since it improved."""

    train: TrainState
    best_params: dict
    best_loss: jax.Array
    best_step: jax.Array
    n_bad: jax.Array


def _errors(energy_fn, params, data: Configurations):
    E, F = batch_energy_and_forces(energy_fn, params, data.numbers, data.positions)
    n = jnp.sum(data.atom_mask, axis=1)
    real = data.atom_mask[..., None]
    return (E - data.energy) / n, jnp.where(real, F - data.forces, 0.0), n


def _take(data: Configurations, idx) -> Configurations:
    return jax.tree_util.tree_map(lambda a: a[idx], data)


def _batch_loss(energy_fn: NNPEnergy, params, batch: Configurations, cfg: NNPConfig):
    de, dF, n = _errors(energy_fn, params, batch)
    e_mse = jnp.mean(de**2)
    f_mse = jnp.sum(dF**2) / (3.0 * jnp.sum(n))
    return cfg.energy_weight * e_mse + cfg.force_weight * f_mse, {"e_rmse": jnp.sqrt(e_mse), "f_rmse": jnp.sqrt(f_mse)}


def nnp_loss(energy_fn: NNPEnergy, params, key, data: Configurations | SizeBuckets, idx, cfg: NNPConfig):
    """The weighted energy and force loss of the configurations ``idx`` (the module
    docstring), with its two terms (per-atom energy RMSE, eV; force RMSE, eV/Å).

    For :class:`SizeBuckets` the minibatch is drawn from one bucket: the one holding
    configuration ``idx[0]`` (so with probability proportional to its size), ``len(idx)``
    configurations uniformly within it (drawn with `key`)."""
    if not isinstance(data, SizeBuckets):
        return _batch_loss(energy_fn, params, _take(data, idx), cfg)
    ends = jnp.asarray(np.cumsum([len(b) for b in data.buckets]))

    def branch(bucket):
        return lambda: _batch_loss(energy_fn, params, _take(bucket, jax.random.randint(key, idx.shape, 0, len(bucket))), cfg)

    return jax.lax.switch(jnp.searchsorted(ends, idx[0], side="right"), [branch(b) for b in data.buckets])


@eqx.filter_jit
def _chunk_errors(energy_fn, params, data, idx):
    de, dF, n = _errors(energy_fn, params, _take(data, idx))
    return de * n, dF, n


def evaluate(
    energy_fn: NNPEnergy, params, data: Configurations | SizeBuckets, *, chunk: int = 64, energy_weight: float = 1.0,
    force_weight: float = 1.0,
) -> dict:
    """Errors against `data`'s reference: ``e_mae`` (eV per structure), ``e_mae_atom``
    (eV/atom), ``e_rmse_atom``, ``f_mae`` and ``f_rmse`` (eV/Å, per force component of
    real atoms), ``loss`` (the training loss with these weights) and ``n``. Evaluated in
    jitted chunks of `chunk` configurations (the last one padded by repetition), bucket by
    bucket for :class:`SizeBuckets`."""
    de, f, n = [], [], []
    for part in data.buckets if isinstance(data, SizeBuckets) else (data,):
        C = len(part)
        idx = np.minimum(np.arange(-(-C // chunk) * chunk), C - 1)
        for k in range(0, len(idx), chunk):
            a, b, c = (np.asarray(x) for x in _chunk_errors(energy_fn, params, part, jnp.asarray(idx[k : k + chunk])))
            keep = slice(0, min(chunk, C - k))
            de.append(a[keep]), n.append(c[keep]), f.append(b[keep][np.asarray(part.atom_mask)[k : k + chunk]])
    de, f, n = (np.concatenate(x) for x in (de, f, n))
    e_rmse_atom = float(np.sqrt(np.mean((de / n) ** 2)))
    f_rmse = float(np.sqrt(np.mean(f**2)))
    return {
        "e_mae": float(np.mean(np.abs(de))),
        "e_mae_atom": float(np.mean(np.abs(de / n))),
        "e_rmse_atom": e_rmse_atom,
        "f_mae": float(np.mean(np.abs(f))),
        "f_rmse": f_rmse,
        "loss": energy_weight * e_rmse_atom**2 + force_weight * f_rmse**2,
        "n": len(de),
    }


def init_state(energy_fn: NNPEnergy, train: Configurations, cfg: NNPConfig, params: dict | None = None) -> NNPTrainState:
    """Step 0: params from ``cfg.seed``, element shifts and force scale fitted to `train`;
    or, to fine-tune a trained model, its `params` as they are (a fresh optimiser and
    schedule; ``cfg.seed`` then only draws the minibatches)."""
    key, k_init = jax.random.split(jax.random.PRNGKey(cfg.seed))
    if params is None:
        params = energy_fn.init(k_init, jnp.asarray(train.positions).dtype)
        params = fit_shifts(energy_fn, np.asarray(train.numbers), np.asarray(train.energy), np.asarray(train.forces), params)
    st = new_train_state(params, key, cfg)
    inf = jnp.asarray(jnp.inf, params["scale"].dtype)
    return NNPTrainState(st, params, inf, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def train_nnp(
    energy_fn: NNPEnergy,
    train: Configurations,
    cfg: NNPConfig,
    *,
    valid: Configurations | None = None,
    state: NNPTrainState | None = None,
    eval_every: int = 100,
    patience: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    stop_at: int | None = None,
) -> tuple[dict, NNPTrainState, list[dict]]:
    """Fit `energy_fn`'s params to `train` (and watch `valid`).

    **Arguments:**

    - `train`, `valid`: :class:`Configurations`; elements outside ``energy_fn.elements``
      raise ``ValueError``. Split them by molecule (:func:`jaxrxn.nnp.data.split_by_group`).
    - `cfg`: :class:`NNPConfig`. `state`: start from this state (default :func:`init_state`).
    - `eval_every`: steps between validations (and checkpoints and `callback` calls).
    - `patience`: stop after this many validations in a row without a new best validation
      loss (``None``: run all ``cfg.n_steps``).
    - `checkpoint`: ``.npz`` path written after every validation; with `resume`, an
      existing file is loaded first and the run continues bit for bit (the resumed run
      equals the uninterrupted one). `stop_at`: end (checkpointed) after that many steps.
    - `callback(step, metrics)`: the chunk's training loss terms and the validation
      metrics (``val_*``, see :func:`evaluate`) after every validation (progress).

    Returns ``(params, state, history)``: the params with the best validation loss (the
    last ones without `valid`), the final :class:`NNPTrainState` and one metrics dict per
    validation of this call.
    """
    for name, d in (("training set", train), ("validation set", valid)):
        if d is not None:
            if len(d) == 0:
                raise ValueError(f"the {name} is empty.")
            check_elements(energy_fn, np.asarray(d.numbers), f"the {name}")
    if eval_every < 1:
        raise ValueError("eval_every must be at least 1.")
    state = init_state(energy_fn, train, cfg) if state is None else state
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint, state)
        if int(state.train.step) % eval_every and int(state.train.step) < cfg.n_steps:
            raise ValueError(f"eval_every {eval_every} does not divide the checkpoint's step {int(state.train.step)}.")
    if cfg.size_buckets > 1:
        train = split_by_size(train, cfg.size_buckets)
        valid = None if valid is None else split_by_size(valid, cfg.size_buckets)
    train = jax.tree_util.tree_map(jnp.asarray, train)
    end = cfg.n_steps if stop_at is None else min(int(stop_at), cfg.n_steps)
    history: list[dict] = []
    last: dict = {}

    def keep(step, metrics):
        last.clear()
        last.update(metrics)

    while int(state.train.step) < end and (patience is None or int(state.n_bad) < patience):
        step = int(state.train.step)
        st = fit(nnp_loss, energy_fn, train, cfg, state.train, resume=False, log_every=eval_every,
                 callback=keep, stop_at=min(end, step + eval_every))  # fmt: skip
        metrics = {"step": int(st.step), **last}
        best = (state.best_params, state.best_loss, state.best_step, state.n_bad)
        if valid is not None:
            val = evaluate(energy_fn, st.params, valid, energy_weight=cfg.energy_weight, force_weight=cfg.force_weight)
            metrics.update({f"val_{k}": v for k, v in val.items() if k != "n"})
            if val["loss"] < float(state.best_loss):
                best = (st.params, jnp.asarray(val["loss"], state.best_loss.dtype), st.step, jnp.zeros((), jnp.int32))
            else:
                best = best[:3] + (state.n_bad + 1,)
        else:
            best = (st.params, state.best_loss, st.step, state.n_bad)
        state = NNPTrainState(st, *best)
        history.append(metrics)
        if callback is not None:
            callback(int(st.step), metrics)
        if checkpoint is not None:
            save_checkpoint(checkpoint, state)
    return state.best_params, state, history
