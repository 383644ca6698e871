"""A species-aware equivariant neural-network potential with the :class:`Potential` face.

The energy of a structure is a sum of atomic energies,

    E = scale * sum_i eps(i) + sum_i shift[Z_i]      (eV),

where ``eps(i)`` is the scalar output of an equivariant message-passing network
(:class:`jaxrxn.generative.nets.PaiNN` by default, or :class:`~jaxrxn.generative.nets.E3xNet`)
fed with a one-hot encoding of the element, ``shift`` holds one reference energy per element
(fitted to the training energies by least squares) and ``scale`` the spread of the reference
forces. Forces are ``-dE/dR`` by automatic differentiation, so they are conservative and
rotate with the structure.

Padding atoms (``system.atom_mask`` False, atomic number 0) send and receive no messages
and carry no energy, so a padded structure has exactly the energy and forces of the
unpadded one, and structures of different sizes share one compiled function in a batch
(:mod:`jaxrxn.batch`). With a carried neighbour list (:meth:`Potential.with_neighbors`) the
messages run over the list's slots (``O(n_atoms)``); without one, over all pairs.

The elements the network was trained on are its domain: :func:`nnp_potential` raises a
``ValueError`` naming any other element.

**Shipped models.** ``xtb-painn`` (:data:`PRETRAINED`) is this PaiNN potential (64
channels, 3 layers) trained on the shipped GFN2-xTB reaction data set
(``jaxrxn/data/xtb_reactions.h5``): 104,989 labelled configurations of its train-split
molecules (reaction paths, reactants, products, transition states and perturbed copies,
:func:`jaxrxn.nnp.data.configurations_from_dataset`, and two rounds of active learning on
an earlier model's CI-NEB bands, ``benchmarks/nnp_active.py``), then 40,000 steps more in
float32 on the labelled configurations without the active rounds (session 33: held-out
batch CI-NEB barrier error 0.24 -> 0.18 eV on 40 reactions). Its file records how it was trained
(``jaxrxn train-nnp`` settings, the data file's SHA-256) and its errors on held-out
molecules. A model's domain is what it was trained on: its elements, neutral closed-shell
gas-phase molecules, and at most the largest training molecule's atom count. Outside it
the network extrapolates without warning, so :func:`check_domain` refuses such structures
with a ``ValueError`` naming the offending element or size (the CLI's exit code 2)::

    pot = jaxrxn.nnp.pretrained(numbers)                 # a Potential: pot.energy(R), pot.forces(R)
    energy_fn, params, meta = jaxrxn.nnp.load_pretrained("xtb-painn")   # for vmapped batches

and ``--calc nnp`` (or ``nnp:xtb-painn``, or ``nnp:MODEL.npz`` for a model written by
``jaxrxn train-nnp``) on every command.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from importlib import resources

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn.generative.nets import E3xNet, PaiNN
from jaxrxn.potentials.core import Potential
from jaxrxn.system import System, real_numbers

BACKBONES = {"painn": PaiNN, "e3x": E3xNet}


@dataclasses.dataclass(frozen=True)
class NNPEnergy:
    """``energy_fn(R, system, params, neighbors=None)`` of the network potential (hashable
    by value, so every potential built from equal settings shares one compiled solver).

    - `elements`: atomic numbers of the domain, sorted.
    - `backbone`: ``"painn"`` or ``"e3x"``; `features`, `n_layers`, `n_rbf`: the network.
    - `r_cut`: message cutoff (Å), also the neighbour-list cutoff (:attr:`cutoff`).
    - `max_degree`: e3x only, the highest spherical-harmonic degree.
    - `norm_eps`: painn only, the epsilon of its vector norms (:class:`PaiNN`; files
      written before it existed hold the default).
    """

    elements: tuple[int, ...]
    backbone: str = "painn"
    features: int = 64
    n_layers: int = 3
    n_rbf: int = 20
    r_cut: float = 5.0
    max_degree: int = 2
    norm_eps: float = 1e-8

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; use one of {sorted(BACKBONES)}.")
        if list(self.elements) != sorted(set(self.elements)) or min(self.elements) < 1:
            raise ValueError(f"elements must be distinct positive atomic numbers in order; got {self.elements}.")
        if not self.norm_eps > 0:
            raise ValueError(f"norm_eps must be positive; got {self.norm_eps}.")

    @property
    def cutoff(self) -> float:
        return self.r_cut

    @property
    def net(self) -> nn.Module:
        kw = dict(features=self.features, n_layers=self.n_layers, n_rbf=self.n_rbf, r_cut=self.r_cut, n_scalar_out=1, n_vector_out=0)
        if self.backbone == "e3x":
            kw["max_degree"] = self.max_degree
        else:
            kw["norm_eps"] = self.norm_eps
        return BACKBONES[self.backbone](**kw)

    def one_hot(self, numbers) -> Array:
        """``(n_atoms, n_elements)`` one-hot rows; padding atoms and unknown elements get
        zero rows (the host-side check of :func:`check_elements` catches the latter)."""
        return (jnp.asarray(numbers)[:, None] == jnp.asarray(self.elements)[None, :]).astype(float)

    def atomic_energies(self, R, numbers, atom_mask, params, cell=None, pbc=None, neighbors=None) -> Array:
        """Per-atom energies ``(n_atoms,)`` (eV), zero on padding atoms."""
        onehot = self.one_hot(numbers).astype(R.dtype)
        eps, _ = self.net.apply(params["net"], R, onehot, None, cell, pbc, atom_mask=atom_mask, neighbors=neighbors)
        e = params["scale"] * eps[:, 0] + onehot @ params["shift"]
        return jnp.where(atom_mask, e, 0.0)

    def __call__(self, R, system: System, params, neighbors=None):
        n = R.shape[0]
        mask = jnp.ones(n, bool) if system.atom_mask is None else system.atom_mask
        numbers = jnp.where(mask, real_numbers(system, n), 0)
        cell = None if system.cell is None else system.cell.astype(R.dtype)
        idx = None if neighbors is None else neighbors.idx
        return jnp.sum(self.atomic_energies(R, numbers, mask, params, cell, system.pbc, idx))

    def init(self, key, dtype=None) -> dict:
        """Fresh params: network weights from `key`, zero shifts, unit scale."""
        R = jax.random.normal(key, (3, 3), dtype or jnp.zeros(()).dtype)
        onehot = jnp.eye(3, len(self.elements), dtype=R.dtype)
        net = self.net.init(key, R, onehot, None, atom_mask=jnp.ones(3, bool))
        return {"net": net, "shift": jnp.zeros(len(self.elements), R.dtype), "scale": jnp.ones((), R.dtype)}


def check_elements(energy_fn: NNPEnergy, numbers, what: str = "the structure") -> None:
    """Raise ``ValueError`` naming the elements of `numbers` (padding zeros ignored) that are
    outside the network's domain."""
    from ase.data import chemical_symbols

    z = np.unique(np.asarray(numbers))
    bad = [int(x) for x in z if x > 0 and x not in energy_fn.elements]
    if bad:
        names = ", ".join(chemical_symbols[x] if x < len(chemical_symbols) else f"Z={x}" for x in bad)
        domain = " ".join(chemical_symbols[x] for x in energy_fn.elements)
        raise ValueError(f"the neural-network potential knows only {domain}; {what} has {names}.")


def nnp_potential(energy_fn: NNPEnergy, params, system_or_numbers, **system_kw) -> Potential:
    """The network as a :class:`Potential` for a :class:`System` (or atomic numbers, with
    `system_kw` such as ``cell``, ``pbc``, ``atom_mask`` passed to :class:`System`).

    Raises ``ValueError`` for elements outside ``energy_fn.elements``."""
    system = system_or_numbers if isinstance(system_or_numbers, System) else System(system_or_numbers, **system_kw)
    numbers = np.asarray(system.numbers)
    if system.atom_mask is not None:
        numbers = np.where(np.asarray(system.atom_mask), numbers, 0)
    check_elements(energy_fn, numbers)
    return Potential(energy_fn, params, system)


def fit_shifts(
    energy_fn: NNPEnergy, numbers: np.ndarray, energy: Float[np.ndarray, " C"], forces: np.ndarray, params: dict
) -> dict:
    """`params` with ``shift`` the least-squares element energies of `energy` (``E ~
    sum_i shift[Z_i]``; ``numbers`` ``(C, N)`` padded with 0) and ``scale`` the standard
    deviation of the real atoms' force components, so the network learns O(1) numbers."""
    counts = np.stack([(np.asarray(numbers) == z).sum(1) for z in energy_fn.elements], axis=1).astype(float)
    shift = np.linalg.lstsq(counts, np.asarray(energy, float), rcond=None)[0]
    real = np.asarray(numbers) > 0
    scale = float(np.std(np.asarray(forces)[real])) or 1.0
    dtype = params["scale"].dtype
    return {**params, "shift": jnp.asarray(shift, dtype), "scale": jnp.asarray(scale, dtype)}


# ---------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------
def save_model(path: str | os.PathLike, energy_fn: NNPEnergy, params, **metadata) -> None:
    """Write the network (settings as JSON, `metadata`, params as arrays) to ``.npz``. The
    element shifts and the force scale are written in float64 (exactly) whatever the
    precision they were trained in, so a float64 caller can tune or difference them finely
    (a float32 force scale put a central difference with step 3e-4 2.3e-4 off)."""
    params = {**params, "shift": np.asarray(params["shift"], np.float64), "scale": np.asarray(params["scale"], np.float64)}
    arrays = {"/".join(k): np.asarray(v) for k, v in flax.traverse_util.flatten_dict(flax.core.unfreeze(params)).items()}
    header = json.dumps({"model": "NNPEnergy", "fields": dataclasses.asdict(energy_fn), "metadata": metadata})
    with open(path, "wb") as fh:
        np.savez(fh, __header__=np.array(header), **arrays)


def load_model(path: str | os.PathLike) -> tuple[NNPEnergy, dict, dict]:
    """``(energy_fn, params, metadata)`` from :func:`save_model`'s file. Raises
    ``ValueError`` for another kind of file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["__header__"])) if "__header__" in data.files else {}
            if header.get("model") != "NNPEnergy":
                raise ValueError(f"{os.fspath(path)!r} is not a jaxrxn neural-network potential.")
            params = flax.traverse_util.unflatten_dict(
                {tuple(k.split("/")): jnp.asarray(data[k]) for k in data.files if k != "__header__"}
            )
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {os.fspath(path)!r} as a model: {err}") from None
    fields = header["fields"]
    fields["elements"] = tuple(fields["elements"])
    return NNPEnergy(**fields), params, header["metadata"]


def batch_energy_and_forces(energy_fn: NNPEnergy, params, numbers, positions, cell=None, pbc=None):
    """Energies ``(C,)`` (eV) and forces ``(C, N, 3)`` (eV/Å) of padded configurations
    (``numbers`` ``(C, N)``, 0 on padding atoms; ``positions`` ``(C, N, 3)`` Å). Jittable."""

    def one(z, R):
        energy = lambda x: jnp.sum(energy_fn.atomic_energies(x, z, z > 0, params, cell, pbc))  # noqa: E731
        e, g = jax.value_and_grad(energy)(R)
        return e, -g

    return jax.vmap(one)(numbers, positions)


# ---------------------------------------------------------------------------------------
# shipped models and their domain
# ---------------------------------------------------------------------------------------
#: shipped model name -> file in ``jaxrxn/data``
PRETRAINED = {"xtb-painn": "nnp_xtb_painn.npz"}
DEFAULT = "xtb-painn"


def model_path(name: str) -> str:
    """The file of the shipped model `name`, or `name` itself if it is a model file.
    Raises ``ValueError`` for anything else."""
    if name in PRETRAINED:
        return str(resources.files("jaxrxn.data").joinpath(PRETRAINED[name]))
    if os.path.exists(name):
        return name
    raise ValueError(f"unknown neural-network potential {name!r}: not a file, nor one of {sorted(PRETRAINED)}.")


@functools.lru_cache(maxsize=8)
def _load(path: str) -> tuple[NNPEnergy, dict, dict]:
    return load_model(path)


def load_pretrained(name: str = DEFAULT) -> tuple[NNPEnergy, dict, dict]:
    """``(energy_fn, params, metadata)`` of the shipped model `name` (:data:`PRETRAINED`) or
    of a model file written by ``jaxrxn train-nnp``. ``metadata`` holds ``max_atoms``, the
    training settings and the held-out errors (``test``, ``heldout``)."""
    return _load(os.path.abspath(model_path(name)))


def check_domain(
    energy_fn: NNPEnergy, metadata: dict, system: System, *, charge: int | None = None, multiplicity: int | None = None
) -> None:
    """Raise ``ValueError`` if the structure `system` lies outside the model's domain: an
    element it was not trained on (named), more real atoms than its largest training
    molecule (``metadata["max_atoms"]``), a periodic cell, or a charged or open-shell state
    (the training data are neutral singlets; `charge` and `multiplicity` default to the
    system's)."""
    charge = int(system.charge) if charge is None else charge
    multiplicity = int(system.multiplicity) if multiplicity is None else multiplicity
    numbers = np.asarray(system.numbers)
    if system.atom_mask is not None:
        numbers = np.where(np.asarray(system.atom_mask), numbers, 0)
    check_elements(energy_fn, numbers)
    n, limit = int(np.sum(numbers > 0)), metadata.get("max_atoms")
    if limit is not None and n > int(limit):
        raise ValueError(
            f"the neural-network potential was trained on molecules of at most {limit} atoms; the structure has {n}."
        )
    if system.periodic:
        raise ValueError("the neural-network potential was trained on gas-phase molecules; the structure is periodic.")
    if charge != 0 or multiplicity != 1:
        raise ValueError(
            f"the neural-network potential was trained on neutral singlet molecules; got charge {charge}, "
            f"multiplicity {multiplicity}."
        )


def pretrained(system_or_numbers, name: str = DEFAULT, **system_kw) -> Potential:
    """The shipped neural-network potential `name` (or a ``train-nnp`` model file) as a
    :class:`Potential` for a :class:`System` or atomic numbers (with `system_kw`, e.g.
    ``charge``, passed to :class:`System`). Energies in eV, forces in eV/Å; jit, vmap and
    grad go through it.

    Raises ``ValueError`` outside the model's domain (:func:`check_domain`).
    """
    energy_fn, params, metadata = load_pretrained(name)
    system = system_or_numbers if isinstance(system_or_numbers, System) else System(system_or_numbers, **system_kw)
    check_domain(energy_fn, metadata, system)
    return Potential(energy_fn, params, system)
