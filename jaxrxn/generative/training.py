"""The optimisation loop shared by jaxrxn's generative models.

The flow generator (:mod:`~jaxrxn.generative.flow`), the diffusion model
(:mod:`~jaxrxn.generative.diffusion`) and the transition-state generator
(:mod:`~jaxrxn.generative.ts_generator`) differ only in their loss and in how their
parameters are initialised; minibatching, Adam with a cosine schedule, jitted
``lax.scan`` chunks, progress output and checkpoints with exact resume live here once.

A loss is a function ``loss_fn(model, params, key, data, idx, cfg)`` returning a scalar
or ``(scalar, dict of scalars)``; ``idx`` ``(batch_size,)`` indexes the reactions of
``data`` (anything with ``len``). ``cfg`` is an ``eqx.Module`` with at least
``batch_size``, ``learning_rate``, ``n_steps`` and ``seed``.
"""

from __future__ import annotations

import os
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from jaxrxn.checkpoint import load_checkpoint, save_checkpoint


class TrainState(eqx.Module):
    """Everything a run needs to resume bit for bit: params, optimizer state, key, step."""

    params: dict
    opt_state: optax.OptState
    key: PRNGKeyArray
    step: Array


def adam_cosine(cfg) -> optax.GradientTransformation:
    """Adam with the learning rate decaying by a cosine to 5 % over ``cfg.n_steps``,
    gradients clipped to global norm 10 (the early steps of score and flow losses spike)."""
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, cfg.n_steps, alpha=0.05)
    return optax.chain(optax.clip_by_global_norm(10.0), optax.adam(schedule))


def new_train_state(params, key: PRNGKeyArray, cfg) -> TrainState:
    """A fresh state at step 0 for `params` (key: the run's PRNG key after initialisation)."""
    # a strongly typed step, as a loaded checkpoint has it (a weak type would recompile)
    return TrainState(params, adam_cosine(cfg).init(params), key, jnp.zeros((), jnp.int32))


def _with_aux(out):
    return out if isinstance(out, tuple) else (out, {})


@eqx.filter_jit
def _train_chunk(loss_fn: Callable, model, cfg, state: TrainState, data, n: int):
    opt = adam_cosine(cfg)

    def step(st, _):
        key, k_idx, k_loss = jax.random.split(st.key, 3)
        idx = jax.random.randint(k_idx, (cfg.batch_size,), 0, len(data))
        (loss, terms), grads = jax.value_and_grad(
            lambda p: _with_aux(loss_fn(model, p, k_loss, data, idx, cfg)), has_aux=True
        )(st.params)
        updates, opt_state = opt.update(grads, st.opt_state, st.params)
        return TrainState(optax.apply_updates(st.params, updates), opt_state, key, st.step + 1), (loss, terms)

    return jax.lax.scan(step, state, None, length=n)


def fit(
    loss_fn: Callable,
    model,
    data,
    cfg,
    state: TrainState,
    *,
    resume: bool = True,
    log_every: int = 100,
    callback: Callable[[int, dict], None] | None = print,
    checkpoint: str | os.PathLike | None = None,
    stop_at: int | None = None,
) -> TrainState:
    """Run ``cfg.n_steps`` minibatch steps of `loss_fn` from `state`.

    Steps run in jitted chunks of `log_every`; after each chunk `callback(step, metrics)`
    receives the chunk's mean ``loss`` and mean loss terms (``print`` by default; ``None``
    for silence) and, if `checkpoint` is a path, the :class:`TrainState` is saved there
    (:func:`jaxrxn.checkpoint.save_checkpoint`). With `resume`, an existing `checkpoint`
    file replaces `state`: the resumed run equals the uninterrupted one bit for bit,
    provided `log_every` divides the checkpoint's step. `stop_at` ends the run
    (checkpointed) once that many steps are done, short of ``cfg.n_steps``: the
    learning-rate schedule stays that of ``cfg.n_steps``, so a later call with the
    checkpoint finishes the same run (jobs under a wall-time limit).
    """
    if len(data) == 0:
        raise ValueError("the training set is empty.")
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint, state)
    end = cfg.n_steps if stop_at is None else min(int(stop_at), cfg.n_steps)
    while int(state.step) < end:
        n = min(log_every, end - int(state.step))
        state, (loss, terms) = _train_chunk(loss_fn, model, cfg, state, data, n)
        if callback is not None:
            callback(int(state.step), {"loss": float(jnp.mean(loss)), **{k: float(jnp.mean(v)) for k, v in terms.items()}})
        if checkpoint is not None:
            save_checkpoint(checkpoint, state)
    return state


def seeded_state(init_params: Callable[[PRNGKeyArray], dict], cfg) -> TrainState:
    """A fresh :class:`TrainState` seeded by ``cfg.seed``: ``init_params(k_init)`` gives
    the params, the rest of the key drives training."""
    key, k_init = jax.random.split(jax.random.PRNGKey(cfg.seed))
    return new_train_state(init_params(k_init), key, cfg)


def train_or_resume(loss_fn: Callable, model, data, cfg, init: Callable[[], TrainState], state: TrainState | None, **fit_kwargs) -> TrainState:
    """The generators' ``train`` functions: :func:`fit` from `state`, or, without one, from
    ``init()`` (or the existing checkpoint, which :func:`fit` then resumes bit for bit)."""
    if len(data) == 0:
        raise ValueError("the training set is empty.")
    resume = state is None
    return fit(loss_fn, model, data, cfg, init() if resume else state, resume=resume, **fit_kwargs)
