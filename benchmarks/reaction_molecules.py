"""HCN -> HNC and the Claisen rearrangement (allyl vinyl ether -> pent-4-enal) with GFN2-xTB:
``jaxrxn.find_reaction`` against the ASE pipeline a careful user writes (benchmarks/_ase_reaction.py),
and the saddle and IRC stages alone against Sella's.

Per reaction:

- the whole pipeline, both sides from the same raw end states (relax, align, IDPP, CI-NEB,
  saddle, IRC, connection check), force calls per stage, barrier, wall time; the ASE side
  with BFGS and with FIRE on the band;
- saddle search from jaxrxn's climbing image and from a 0.05 Å rattle of it (seed 0):
  ``saddle_search(..., RSPRFO())`` vs ``Sella(order=1, internal=True)``, both to 0.01 eV/Å,
  no starting mode for either; energies and calls;
- IRC both ways from the converged saddle: ``jaxrxn.irc.irc`` (with the harmonic mode) vs
  Sella's ``IRC`` (dx 0.1, both directions, fmax 0.01), calls and end energies.

Calls are counted at the calculator. Writes benchmarks/results/reaction_molecules.json.
Usage: ``nice -n 10 python benchmarks/reaction_molecules.py [hcn] [claisen]``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.dirname(__file__))

from _ase_reaction import ase_pipeline, counting_xtb, find_reaction_set, in_worker_thread  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BIRKHOLZ = find_reaction_set("birkholz_rx")
OUT = os.path.join(HERE, "results", "reaction_molecules.json")


def load(name: str):
    from ase.io import read

    if name == "hcn":
        path = os.environ.get("BIRKHOLZ_DIR", BIRKHOLZ)
        frames = read(os.path.join(path, "02_hcn.trj"), ":", format="xyz")
        return frames[0].numbers, frames[0].positions, frames[-1].positions
    a = read(os.path.join(HERE, "data", "claisen_allyl_vinyl_ether.xyz"))
    b = read(os.path.join(HERE, "data", "claisen_pent4enal.xyz"))
    return a.numbers, a.positions, b.positions


def sella_saddle(numbers, R, fmax=0.01):
    from ase import Atoms
    from sella import Sella

    c = {"n": 0}
    a = Atoms(numbers=numbers, positions=R)
    a.calc = counting_xtb(c)
    ok = Sella(a, order=1, internal=True, logfile=None).run(fmax=fmax, steps=500)
    return {"energy": float(a.get_potential_energy()), "n_force_calls": c["n"], "converged": bool(ok)}


def sella_irc(numbers, R, fmax=0.01):
    from ase import Atoms
    from sella import IRC

    out = {}
    for direction in ("forward", "reverse"):
        c = {"n": 0}
        a = Atoms(numbers=numbers, positions=R)
        a.calc = counting_xtb(c)
        try:
            ok = IRC(a, logfile=None, dx=0.1, eta=1e-4).run(fmax=fmax, steps=1000, direction=direction)
            out[direction] = {"energy": float(a.get_potential_energy()), "n_force_calls": c["n"], "converged": bool(ok)}
        except Exception as err:  # Sella's IRCInnerLoopConvergenceFailure
            out[direction] = {"error": type(err).__name__, "n_force_calls": c["n"], "converged": False}
    return out


def jaxrxn_saddle(numbers, R, fmax=0.01):
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.saddle import RSPRFO, saddle_search
    from jaxrxn.vibrations import vibrations

    pot = xtb_potential(numbers)
    res = saddle_search(pot, jnp.asarray(R), RSPRFO(), fmax=fmax, max_steps=500, check_index=False)
    n = pot.energy_fn.n_calls
    vib = vibrations(pot, res.R)
    return {
        "energy": float(res.energy), "n_force_calls": n, "converged": bool(res.converged),
        "saddle_index": vib.n_imaginary, "R": np.asarray(res.R), "mode": vib.modes[0],
    }  # fmt: skip


def jaxrxn_irc(numbers, R, mode, fmax=0.01):
    from jaxrxn.irc import irc
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import IRC_OPTIONS

    pot = xtb_potential(numbers)
    r = irc(pot, jnp.asarray(R), mode=jnp.asarray(mode), fmax=fmax, **IRC_OPTIONS)
    return {
        "n_force_calls": int(r.n_force_calls), "forward": float(r.forward.energy_min),
        "reverse": float(r.reverse.energy_min), "converged": bool(r.converged),
    }  # fmt: skip


def run(name: str) -> dict:
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    numbers, R0, R1 = load(name)
    row: dict = {}
    t = time.perf_counter()
    pot = xtb_potential(numbers)
    # the band alone (as when the results were made): its climbing image starts the saddle comparison
    res = find_reaction(R0, R1, pot, interpolation=os.environ.get("INTERPOLATION"), refine_interpolation_max=False, progress=True)
    row["jaxrxn"] = {**res.to_json(), "calculator_calls": pot.energy_fn.n_calls, "wall_s": time.perf_counter() - t}
    print(name, "jaxrxn", json.dumps(row["jaxrxn"]), flush=True)
    for opt in ("bfgs", "fire"):
        a = in_worker_thread(ase_pipeline, numbers, R0, R1, optimizer=opt)
        row[f"ase_{opt}"] = {k: v for k, v in a.items() if not k.startswith("R_")}
        print(name, f"ase_{opt}", json.dumps(row[f"ase_{opt}"]), flush=True)
    if res.band is None:
        return row
    ci = res.band[int(np.argmax(res.band_energies[1:-1])) + 1]
    rattled = ci + np.random.default_rng(0).normal(scale=0.05, size=ci.shape)
    ts = None
    for label, start in (("climbing_image", ci), ("rattle_0.05", rattled)):
        j = jaxrxn_saddle(numbers, start)
        s = in_worker_thread(sella_saddle, numbers, start)
        ts = ts if ts is not None else j
        row[f"saddle_from_{label}"] = {"jaxrxn": {k: v for k, v in j.items() if k not in ("R", "mode")}, "sella": s}
        print(name, label, row[f"saddle_from_{label}"], flush=True)
    row["irc"] = {"jaxrxn": jaxrxn_irc(numbers, ts["R"], ts["mode"]), "sella": in_worker_thread(sella_irc, numbers, ts["R"])}
    print(name, "irc", row["irc"], flush=True)
    return row


def main(names):
    results = json.load(open(OUT)) if os.path.exists(OUT) else {}
    for name in names:
        results[name] = run(name)
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(OUT, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    results["load_average"] = os.getloadavg()
    with open(OUT, "w") as fh:
        json.dump(results, fh, indent=1, default=float)


if __name__ == "__main__":
    main(sys.argv[1:] or ["hcn", "claisen"])
