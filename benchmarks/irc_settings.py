"""IRC cost on HCN -> HNC (GFN2-xTB) under different descent settings.

The saddle is the HCN -> HNC transition state from Baker guess 01 (the Cartesian RSPRFO
geometry stored in benchmarks/results/baker_xtb.json), the first step follows the imaginary
mode of :func:`jaxrxn.vibrations.vibrations` (18 gradients, not counted below), and each
setting runs :func:`jaxrxn.irc.irc` both ways to ``fmax`` 0.01 eV/Å. Per branch: descent
points, gradients (descent plus the final L-BFGS minimization) and the end energy.
Sella's IRC from the same saddle spends 71 + 56 gradients (benchmarks/reaction_molecules.py).
Writes benchmarks/results/irc_settings.json. Run: ``python benchmarks/irc_settings.py``.
"""

from __future__ import annotations

import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.irc import irc  # noqa: E402
from jaxrxn.potentials.qm import xtb_potential  # noqa: E402
from jaxrxn.vibrations import vibrations  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SETTINGS = [  # the first is the reaction pipeline's IRC_OPTIONS
    {"step": 0.2, "tol": 1e-3, "descent_fmax": 0.5},
    {"step": 0.4, "tol": 1e-3, "descent_fmax": 0.5},
    {"step": 0.2, "tol": 3e-3, "descent_fmax": 0.5},
    {"step": 0.2, "tol": 1e-3, "descent_fmax": 0.2},
    {"step": 0.2, "tol": 1e-3, "descent_fmax": 1.0},
]


def main():
    R = np.array(json.loads((HERE / "results" / "baker_xtb.json").read_text())["01_hcn"]["jaxrxn"]["R"])
    pot = xtb_potential(np.array([6, 7, 1]))
    vib = vibrations(pot, jnp.asarray(R))
    rows = []
    for kw in SETTINGS:
        n0, t = pot.energy_fn.n_calls, time.perf_counter()
        res = irc(pot, jnp.asarray(R), mode=jnp.asarray(vib.modes[0]), fmax=0.01, **kw)
        assert int(res.n_force_calls) == pot.energy_fn.n_calls - n0
        row = {"settings": kw, "n_force_calls": int(res.n_force_calls), "converged": bool(res.converged), "seconds": time.perf_counter() - t}
        for b in ("forward", "reverse"):
            br = getattr(res, b)
            row[b] = {"points": int(br.n_points), "n_force_calls": int(br.n_force_calls), "energy_min": float(br.energy_min)}
        rows.append(row)
        print(row, flush=True)
    out = {"imaginary_frequency_cm1": float(vib.imaginary_frequency), "mode_calls": int(vib.n_force_calls), "runs": rows}
    (HERE / "results" / "irc_settings.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
