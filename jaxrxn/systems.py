"""Reference reaction set-ups from the literature, as ASE ``Atoms`` (initial, final).

They are the systems jaxrxn's tests, benchmarks and examples compare against ASE and
the reference notes with, built in one place so every comparison uses the same atoms.
"""

from __future__ import annotations

import numpy as np


def au_on_al100():
    """Au adatom hopping between hollow sites on Al(100): ASE's NEB tutorial
    (``diffusion1.py``): ``fcc100('Al', (2, 2, 3))``, Au 1.7 Å above a hollow site,
    vacuum 4.0 Å, the two bottom layers fixed; the final state moves Au by half the cell
    along x. EMT barrier 0.3745 eV. Returns ``(initial, final)``, unrelaxed.
    """
    from ase.build import add_adsorbate, fcc100
    from ase.constraints import FixAtoms

    slab = fcc100("Al", size=(2, 2, 3))
    add_adsorbate(slab, "Au", 1.7, "hollow")
    slab.center(axis=2, vacuum=4.0)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() > 1))
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    return slab, final


def cu_adatom_on_cu100(a: float = 3.5898, size=(4, 4, 4), n_fixed_layers: int = 2):
    """Cu adatom hopping between neighbouring hollow sites on Cu(100).

    ``fcc100('Cu', size, a, vacuum=6)`` with the adatom 1.7 Å above a hollow site and the
    bottom `n_fixed_layers` layers fixed; the final state moves the adatom by one nearest-
    neighbour distance ``a / sqrt(2)`` along x. At EMT's lattice constant a = 3.5898 Å on
    the 4x4x4 slab with two fixed layers the EMT barrier is 0.4117 eV (0.4202 at a = 3.61).
    Returns ``(initial, final)``, unrelaxed.
    """
    from ase.build import add_adsorbate, fcc100
    from ase.constraints import FixAtoms

    slab = fcc100("Cu", size=size, a=a, vacuum=6.0)
    add_adsorbate(slab, "Cu", 1.7, "hollow")
    # fcc100 tags layers from the top (1) down: the largest tags are the bottom layers
    slab.set_constraint(FixAtoms(mask=slab.get_tags() > size[2] - n_fixed_layers))
    final = slab.copy()
    final.positions[-1, 0] += a / np.sqrt(2)
    return slab, final


def adatom_hop_fcc100(metal: str, size=(2, 2, 3), adatom: str | None = None, n_fixed_layers: int = 1):
    """An adatom hopping between neighbouring hollow sites on an fcc(100) slab.

    ``fcc100(metal, size, vacuum=6)`` at ASE's reference lattice constant, the adatom
    (default: `metal`) 1.7 Å above a hollow site, the bottom `n_fixed_layers` layers fixed;
    the final state moves the adatom by one surface nearest-neighbour distance along x.
    Returns ``(initial, final)``, unrelaxed: a family of surface hops of different metals and
    slab sizes for batched searches.
    """
    from ase.build import add_adsorbate, fcc100
    from ase.constraints import FixAtoms

    slab = fcc100(metal, size=size, vacuum=6.0)
    add_adsorbate(slab, adatom or metal, 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=slab.get_tags() > size[2] - n_fixed_layers))
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / size[0]
    return slab, final
