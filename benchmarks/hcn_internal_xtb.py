"""HCN -> HNC with GFN2-xTB in internal coordinates.

``RSPRFO.molecular`` (the molecular search of ``jaxrxn saddle --coords internal``), from
Baker guess 01 and from a 0.05 Å rattle (seed 0) of the
HCN -> HNC saddle stored in benchmarks/results/baker_xtb.json (Cartesian RSPRFO row):
gradients, energy relative to that saddle, imaginary modes from jaxrxn.vibrations (not
counted). Writes benchmarks/results/hcn_internal_xtb.json. Run with OMP_NUM_THREADS=1 on a
shared machine.
"""

from __future__ import annotations

import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.potentials.qm import xtb_potential  # noqa: E402
from jaxrxn.saddle import RSPRFO, saddle_search  # noqa: E402
from jaxrxn.vibrations import vibrations  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
NUMBERS = np.array([6, 7, 1])
GUESS = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.14838], [1.58536, 0.0, 1.14838]])


def main():
    row = json.loads((HERE / "results" / "baker_xtb.json").read_text())["01_hcn"]["jaxrxn"]
    ts, e_ts = np.array(row["R"]), row["energy_eV"]
    starts = {"baker_guess": GUESS, "ts_rattle_0.05": ts + np.random.default_rng(0).normal(scale=0.05, size=ts.shape)}
    out = []
    for label, R0 in starts.items():
        pot = xtb_potential(NUMBERS)
        solver = RSPRFO.molecular(NUMBERS, R0)
        res = saddle_search(pot, jnp.asarray(R0), solver, fmax=0.01, max_steps=300, zero_modes_spec="free", check_index=False)
        calls = pot.energy_fn.n_calls
        vib = vibrations(pot, res.R)
        out.append({
            "start": label, "settings": "RSPRFO.molecular", "calls": calls, "energy_eV": float(res.energy),
            "converged": bool(res.converged), "minus_saddle_eV": float(res.energy) - e_ts,
            "n_imaginary": int(vib.n_imaginary), "imaginary_frequency_cm1": float(vib.imaginary_frequency),
        })  # fmt: skip
        print(out[-1], flush=True)
    (HERE / "results" / "hcn_internal_xtb.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
