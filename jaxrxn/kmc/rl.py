"""Reinforcement-learning-guided KMC after Tang et al., Adv. Sci. 11, 2304122 (2024).

The Markov decision process (rare_events.md §5.4): a state ``s`` is a relaxed
configuration (here a lattice occupancy or an interstitial site), an action ``a`` one of a
fixed, padded set of candidate moves, and the reward

    r(s, a) = alpha [E(s) - E‡(s, a) + kT ln nu(s, a)] + beta [E(s) - E(s')]    (eV)

with ``Q(s, a) = r + gamma max_a' Q(s', a')`` and the Boltzmann policy
``pi(a|s) = softmax_a(Q(s, a)/kT)``. Two limits:

- **Transition-kinetics simulator (TKS)**: ``alpha=1, beta=0, gamma=0``. Then
  ``Q = kT ln(nu e^{-Ea/kT}) = kT ln k(s, a)``, the policy is exactly the KMC selection
  probability and the clock advances by the residence time of ``K = sum_a e^{Q/kT}``. A
  network trained on the rates already computed ("saddles") predicts the others, so most
  candidate moves need no saddle search. :class:`QRateModel` is the residence-time model
  with rates ``exp(Q/kT)``; :func:`tks_learn` runs replicas that query the rate oracle (one
  saddle search per valid candidate move) only with a decaying probability, refitting the
  network between rounds, and counts every oracle call.
- **Low-energy-states sampler (LSS)**: ``alpha=0, beta=1, gamma>0``. Deep Q-learning
  (Mnih et al., Nature 518, 529 (2015)) with a replay buffer and a target network learns a
  long-horizon Q whose Boltzmann policy walks to low-energy basins faster than Metropolis
  Monte Carlo at the same temperature. :func:`lss_train`, :func:`lss_sample`,
  :func:`metropolis_sample` on a :class:`jaxrxn.kmc.lattice.LatticeGas`.

Networks are flax ``linen`` MLPs on local per-action features; training uses optax; the
learned parameters and replay state are pytrees that :mod:`jaxrxn.checkpoint` saves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree, Scalar

from jaxrxn.generative.nets import MLP
from jaxrxn.kmc.lattice import LatticeGas, SublatticeWalker, WalkerConfig
from jaxrxn.kmc.residence import KMCState, KMCTrajectory, init_state, select_event
from jaxrxn.units import KB


def reward(
    energy: Scalar,
    saddle_energy: Scalar,
    log_prefactor: Scalar,
    next_energy: Scalar,
    temperature: float,
    alpha: float,
    beta: float,
) -> Scalar:
    """Tang et al.'s reward (eV): ``alpha [E - E‡ + kT ln nu] + beta [E - E']``.

    Energies in eV, ``log_prefactor = ln(nu / (1/s))``, temperature in K.
    """
    kT = KB * temperature
    return alpha * (energy - saddle_energy + kT * log_prefactor) + beta * (energy - next_energy)


def boltzmann_policy(q: Float[Array, " n_actions"], mask: Array, temperature: float) -> Float[Array, " n_actions"]:
    """``softmax(Q/kT)`` over valid actions (``mask`` true); Q in eV, T in K."""
    logits = jnp.where(mask, q / (KB * temperature), -jnp.inf)
    return jax.nn.softmax(logits)


# ---------------------------------------------------------------------------------------
# Transition-kinetics simulator (alpha = 1, beta = 0, gamma = 0)
# ---------------------------------------------------------------------------------------
def walker_action_features(walker: SublatticeWalker, config: WalkerConfig) -> Float[Array, "max_hops n_features"]:
    """Local features of every candidate hop of a :class:`SublatticeWalker`.

    One-hot source site, one-hot target site and hop length (Å): what a lattice model
    knows about a move before any saddle search.
    """
    n_sites, max_hops = walker.hop_targets.shape
    source = jnp.broadcast_to(jax.nn.one_hot(config.site, n_sites), (max_hops, n_sites))
    target = jax.nn.one_hot(walker.hop_targets[config.site], n_sites)
    length = jnp.linalg.norm(walker.hop_vectors[config.site], axis=-1, keepdims=True)
    return jnp.concatenate([source, target, length], axis=-1)


def walker_action_mask(walker: SublatticeWalker, config: WalkerConfig) -> Array:
    """True for the hop slots that exist (known without any saddle search)."""
    return jnp.isfinite(walker.barriers[config.site])


class LogRateNet(eqx.Module):
    """A trained MLP predicting ``ln k`` (k in 1/s) of each candidate move.

    ``ln k = shift + scale * mlp(features)``; ``shift``/``scale`` standardise the targets.
    """

    mlp: MLP = eqx.field(static=True)
    params: PyTree
    shift: Scalar
    scale: Scalar

    def __call__(self, features: Float[Array, "n_actions n_features"]) -> Float[Array, " n_actions"]:
        return self.shift + self.scale * self.mlp.apply(self.params, features)[..., 0]


class QRateModel(eqx.Module):
    """Residence-time KMC model whose rates are ``exp(Q/kT)`` of a Q-function (TKS).

    ``q_fn(config) -> Q (n_actions,)`` in eV; absent actions are masked by ``mask_fn``. With
    ``Q = kT ln k`` this is exactly the underlying ``model``.
    """

    model: SublatticeWalker
    q_fn: Callable = eqx.field(static=True)
    mask_fn: Callable = eqx.field(static=True)
    temperature: Scalar

    def rates(self, config):
        q = self.q_fn(config)
        return jnp.where(self.mask_fn(config), jnp.exp(q / (KB * self.temperature)), 0.0)

    def apply(self, config, event):
        return self.model.apply(config, event)


def exact_q(walker: SublatticeWalker) -> Callable:
    """``Q(s, a) = kT ln k(s, a)`` from the rate oracle (the TKS optimum)."""

    def q_fn(config):
        k = walker.rates(config)
        return KB * walker.temperature * jnp.log(jnp.where(k > 0, k, 1.0))

    return q_fn


class TKSResult(eqx.Module):
    """Outcome of :func:`tks_learn`.

    ``trajectory`` is the replicas' whole run (leading axes ``(n_replicas, n_steps)``),
    ``state`` the final states, ``net`` the final rate network, ``n_saddles`` the oracle
    calls (one per valid candidate move of every queried state) and ``n_saddles_kmc`` the
    number a plain on-the-fly residence-time KMC of the same steps would have needed.
    """

    trajectory: KMCTrajectory
    state: KMCState
    net: LogRateNet
    n_saddles: Int[Array, ""]
    n_saddles_kmc: Int[Array, ""]
    fit_loss: Float[Array, " n_rounds"]


def _fit_log_rates(mlp, params, features, log_rates, mask, n_epochs, learning_rate):
    """Full-batch Adam on the masked mean squared error of standardised ``ln k``."""
    valid = mask.astype(log_rates.dtype)
    n = jnp.maximum(jnp.sum(valid), 1.0)
    shift = jnp.sum(log_rates * valid) / n
    scale = jnp.sqrt(jnp.sum(valid * (log_rates - shift) ** 2) / n) + 1e-3
    target = (log_rates - shift) / scale
    opt = optax.adam(learning_rate)

    def loss_fn(p):
        return jnp.sum(valid * (mlp.apply(p, features)[..., 0] - target) ** 2) / n

    def epoch(carry, _):
        p, opt_state = carry
        loss, grad = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = opt.update(grad, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), loss

    (params, _), losses = lax.scan(epoch, (params, opt.init(params)), None, length=n_epochs)
    return params, shift, scale, losses[-1]


def tks_learn(
    walker: SublatticeWalker,
    key: PRNGKeyArray,
    *,
    n_replicas: int = 256,
    steps_per_round: int = 50,
    query_probability: Sequence[float] = (1.0, 0.2, 0.05, 0.0, 0.0, 0.0),
    buffer_size: int = 512,
    hidden: Sequence[int] = (32, 32),
    n_epochs: int = 600,
    learning_rate: float = 3e-3,
) -> TKSResult:
    """TKS with a learned Q: replicas query the rate oracle only now and then.

    Round ``r`` runs ``steps_per_round`` residence-time steps on every replica (vmapped).
    At each step a replica calls the rate oracle (``walker.rates``: a saddle search per
    valid candidate move) with probability ``query_probability[r]`` and then uses the true
    rates; otherwise it uses ``exp(Q/kT)`` from the network. Queried states go into a
    replay buffer (``buffer_size`` most recent) on which the network is refitted after each
    round. Pure JAX inside a round (one compilation reused for every round); the rounds
    loop in Python.
    """
    mlp = MLP((*hidden, 1))  # features (..., n_features) -> one scalar per action
    k_init, k_run = jax.random.split(key)
    probe = walker.start(0)
    params = mlp.init(k_init, walker_action_features(walker, probe))
    net = LogRateNet(mlp, params, jnp.asarray(0.0), jnp.asarray(1.0))

    def step(carry, _):
        state, net, p_query = carry
        key, k_query, k_event = jax.random.split(state.key, 3)
        config = state.config
        mask = walker_action_mask(walker, config)
        query = jax.random.uniform(k_query) < p_query
        learned = jnp.where(mask, jnp.exp(net(walker_action_features(walker, config))), 0.0)
        rates = lax.cond(query, lambda c: walker.rates(c), lambda c: learned, config)
        event, dt, total = select_event(k_event, rates)
        new_config = walker.apply(config, event)
        new = KMCState(new_config, state.time + dt, key, state.n_steps + 1, state.absorbed | (total <= 0))
        record = KMCTrajectory(new.time, new_config, event, dt, total)
        return (new, net, p_query), (record, config.site, query, jnp.sum(mask) * query)

    @jax.jit
    def run_round(states, net, p_query):
        def one(state):
            (state, _, _), out = lax.scan(step, (state, net, p_query), None, length=steps_per_round)
            return state, out

        return jax.vmap(one)(states)

    features_fn = jax.vmap(lambda site: walker_action_features(walker, WalkerConfig(probe.position, site)))
    oracle_fn = jax.vmap(lambda site: walker.rates(WalkerConfig(probe.position, site)))
    mask_fn = jax.vmap(lambda site: walker_action_mask(walker, WalkerConfig(probe.position, site)))

    @jax.jit
    def refit(net, sites):
        k = oracle_fn(sites)  # rates already paid for when the state was queried
        log_k = jnp.log(jnp.where(k > 0, k, 1.0))
        params, shift, scale, loss = _fit_log_rates(
            mlp, net.params, features_fn(sites), log_k, mask_fn(sites), n_epochs, learning_rate
        )
        return LogRateNet(mlp, params, shift, scale), loss

    states = jax.vmap(lambda k: init_state(walker.start(0), k))(jax.random.split(k_run, n_replicas))
    buffer = jnp.zeros((0,), int)
    records, n_saddles, losses = [], 0, []
    for p in query_probability:
        states, (record, sites, queried, n_called) = run_round(states, net, jnp.asarray(p))
        records.append(record)
        n_saddles += int(jnp.sum(n_called))
        new_sites = sites[queried]
        if new_sites.size:
            buffer = jnp.concatenate([buffer, new_sites])[-buffer_size:]
            # fixed-size training set (cycled) so that refit compiles once
            net, loss = refit(net, jnp.resize(buffer, (buffer_size,)))
            losses.append(float(loss))
    trajectory = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=1), *records)
    # every step of plain on-the-fly KMC evaluates all valid candidate moves of the state it leaves
    left = jnp.concatenate([jnp.zeros((n_replicas, 1), int), trajectory.config.site[:, :-1]], axis=1)
    n_kmc = int(jnp.sum(jnp.isfinite(walker.barriers[left])))
    return TKSResult(trajectory, states, net, jnp.asarray(n_saddles), jnp.asarray(n_kmc), jnp.asarray(losses))


# ---------------------------------------------------------------------------------------
# Low-energy-states sampler (alpha = 0, beta = 1, gamma > 0): DQN on a lattice gas
# ---------------------------------------------------------------------------------------
def gas_action_features(gas: LatticeGas, occupancy: Int[Array, " n_sites"]) -> Float[Array, "n_actions n_features"]:
    """Per-move local features: one-hot coordination of the source site and of the target
    site (without the mover), and the mean coordination around source and target."""
    z = gas.neighbors.shape[1]
    coord = gas.coordination(occupancy)
    n_from = jnp.repeat(coord, z)
    n_to = (coord[gas.neighbors] - 1).reshape(-1)
    shell = jnp.mean(coord[gas.neighbors].astype(float), axis=-1)
    shell_from = jnp.repeat(shell, z)
    shell_to = shell[gas.neighbors].reshape(-1)
    return jnp.concatenate(
        [jax.nn.one_hot(n_from, z + 1), jax.nn.one_hot(n_to, z + 1), shell_from[:, None], shell_to[:, None]],
        axis=-1,
    )


class Replay(eqx.Module):
    """Ring buffer of transitions ``(s, a, r, s')``; ``count`` = transitions stored so far."""

    occupancy: Int[Array, "capacity n_sites"]
    action: Int[Array, " capacity"]
    reward: Float[Array, " capacity"]
    next_occupancy: Int[Array, "capacity n_sites"]
    count: Int[Array, ""]


class DQNState(eqx.Module):
    """Everything a DQN run needs to resume: networks, optimiser, replay, lattice, key."""

    params: PyTree
    target_params: PyTree
    opt_state: PyTree
    replay: Replay
    occupancy: Int[Array, " n_sites"]
    key: PRNGKeyArray
    n_steps: Int[Array, ""]


class LowEnergySampler(eqx.Module):
    """DQN hyperparameters for the LSS limit (alpha = 0, beta = 1).

    ``gamma`` discount, ``temperature`` (K) of the Boltzmann policy, ``capacity`` of the
    replay buffer, ``batch_size``, ``target_every`` steps between target-network copies,
    ``episode_length`` steps before the lattice is re-randomised, Adam ``learning_rate``.
    """

    gas: LatticeGas
    n_particles: int = eqx.field(static=True)
    gamma: float = 0.9
    temperature: float = 300.0
    capacity: int = eqx.field(static=True, default=2048)
    batch_size: int = eqx.field(static=True, default=16)
    target_every: int = eqx.field(static=True, default=50)
    episode_length: int = eqx.field(static=True, default=100)
    learning_rate: float = 1e-3
    hidden: tuple[int, ...] = eqx.field(static=True, default=(32, 32))

    @property
    def mlp(self) -> MLP:
        return MLP((*self.hidden, 1), zero_last=True)

    def q_values(self, params, occupancy) -> Float[Array, " n_actions"]:
        """Q(s, a) in eV for every move; invalid moves get ``-inf``.

        ``Q = r(s, a) + mlp(features)``: the immediate reward ``E(s) - E(s')`` is known from
        the lattice energy, so the network (zero at start) learns only the discounted
        future ``gamma max Q(s', .)``; a plain MLP must first learn ``r`` to within kT
        before its Boltzmann policy is any better than random.
        """
        r = -self.gas.hop_energy_change(occupancy).reshape(-1)
        q = r + self.mlp.apply(params, gas_action_features(self.gas, occupancy))[..., 0]
        return jnp.where(self.gas.allowed(occupancy).reshape(-1) > 0, q, -jnp.inf)

    def random_occupancy(self, key) -> Int[Array, " n_sites"]:
        n_sites = self.gas.neighbors.shape[0]
        return (jnp.argsort(jax.random.uniform(key, (n_sites,))) < self.n_particles).astype(jnp.int32)

    def policy_move(self, params, occupancy, key):
        """Draw a move from the Boltzmann policy and apply it; returns (move, reward, s')."""
        q = self.q_values(params, occupancy)
        mask = jnp.isfinite(q)
        action = jax.random.categorical(key, jnp.where(mask, q / (KB * self.temperature), -jnp.inf))
        next_occ = self.gas.apply(occupancy, action)
        r = reward(self.gas.energy(occupancy), 0.0, 0.0, self.gas.energy(next_occ), self.temperature, 0.0, 1.0)
        return action, r, next_occ

    def init(self, key: PRNGKeyArray) -> DQNState:
        k_net, k_occ, key = jax.random.split(key, 3)
        occ = self.random_occupancy(k_occ)
        params = self.mlp.init(k_net, gas_action_features(self.gas, occ))
        n_sites = occ.shape[0]
        replay = Replay(
            jnp.zeros((self.capacity, n_sites), jnp.int32), jnp.zeros(self.capacity, jnp.int32),
            jnp.zeros(self.capacity), jnp.zeros((self.capacity, n_sites), jnp.int32), jnp.array(0),
        )
        opt_state = optax.adam(self.learning_rate).init(params)
        return DQNState(params, params, opt_state, replay, occ, key, jnp.array(0))

    def td_loss(self, params, target_params, occ, action, r, next_occ) -> Scalar:
        """Mean squared TD error ``Q(s,a) - [r + gamma max_a' Q_target(s', a')]``."""
        q = jax.vmap(self.q_values, in_axes=(None, 0))(params, occ)
        q_sa = jnp.take_along_axis(q, action[:, None], axis=1)[:, 0]
        q_next = jax.vmap(self.q_values, in_axes=(None, 0))(target_params, next_occ)
        best_next = jnp.max(jnp.where(jnp.isfinite(q_next), q_next, -1e9), axis=1)
        target = lax.stop_gradient(r + self.gamma * jnp.maximum(best_next, -1e3))
        return jnp.mean((q_sa - target) ** 2)

    def step(self, state: DQNState) -> tuple[DQNState, Scalar]:
        """One environment step with the Boltzmann policy, then one minibatch update."""
        key, k_move, k_batch, k_reset = jax.random.split(state.key, 4)
        action, r, next_occ = self.policy_move(state.params, state.occupancy, k_move)
        slot = state.replay.count % self.capacity
        replay = Replay(
            state.replay.occupancy.at[slot].set(state.occupancy), state.replay.action.at[slot].set(action.astype(jnp.int32)),
            state.replay.reward.at[slot].set(r), state.replay.next_occupancy.at[slot].set(next_occ),
            state.replay.count + 1,
        )
        n_stored = jnp.minimum(replay.count, self.capacity)
        idx = jax.random.randint(k_batch, (self.batch_size,), 0, n_stored)
        loss, grad = jax.value_and_grad(self.td_loss)(
            state.params, state.target_params, replay.occupancy[idx], replay.action[idx],
            replay.reward[idx], replay.next_occupancy[idx],
        )
        updates, opt_state = optax.adam(self.learning_rate).update(grad, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        n_steps = state.n_steps + 1
        target = jax.tree_util.tree_map(
            lambda new, old: jnp.where(n_steps % self.target_every == 0, new, old), params, state.target_params
        )
        reset = n_steps % self.episode_length == 0
        occ = jnp.where(reset, self.random_occupancy(k_reset), next_occ)
        return DQNState(params, target, opt_state, replay, occ, key, n_steps), loss


def lss_train(sampler: LowEnergySampler, state: DQNState, n_steps: int) -> tuple[DQNState, Float[Array, " n_steps"]]:
    """``n_steps`` DQN steps in one ``lax.scan``; returns the state and TD losses."""
    return lax.scan(lambda s, _: sampler.step(s), state, None, length=n_steps)


def lss_sample(
    sampler: LowEnergySampler, params: PyTree, occupancy: Int[Array, " n_sites"], key: PRNGKeyArray, n_steps: int
) -> Float[Array, " n_steps"]:
    """Follow the learned Boltzmann policy for ``n_steps`` moves; energies (eV) after each."""

    def step(occ, k):
        _, _, occ = sampler.policy_move(params, occ, k)
        return occ, sampler.gas.energy(occ)

    return lax.scan(step, occupancy, jax.random.split(key, n_steps))[1]


def metropolis_sample(
    gas: LatticeGas, occupancy: Int[Array, " n_sites"], key: PRNGKeyArray, n_steps: int
) -> Float[Array, " n_steps"]:
    """Kawasaki Metropolis MC at ``gas.temperature``: pick a particle and a neighbour
    direction, accept an allowed move with ``min(1, exp(-dE/kT))``; energies (eV)."""
    z = gas.neighbors.shape[1]
    kT = KB * gas.temperature

    def step(occ, k):
        k_site, k_dir, k_acc = jax.random.split(k, 3)
        site = jax.random.categorical(k_site, jnp.where(occ > 0, 0.0, -jnp.inf))
        event = site * z + jax.random.randint(k_dir, (), 0, z)
        allowed = gas.allowed(occ).reshape(-1)[event] > 0
        d_e = gas.hop_energy_change(occ).reshape(-1)[event]
        accept = allowed & (jax.random.uniform(k_acc) < jnp.exp(-d_e / kT))
        occ = jnp.where(accept, gas.apply(occ, event), occ)
        return occ, gas.energy(occ)

    return lax.scan(step, occupancy, jax.random.split(key, n_steps))[1]
