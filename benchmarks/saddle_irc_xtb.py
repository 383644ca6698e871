"""HCN -> HNC and the Claisen rearrangement with GFN2-xTB: the molecular saddle search and
the IRC through the Python API and the CLI, against Sella on the same starts.

Per reaction (end states as in benchmarks/reaction_molecules.py):

- the climbing image of ``jaxrxn.find_reaction``'s band (computed once, stored in the
  results file) and a 0.05 Å rattle of it (seed 0) are the two starts;
- from each: ``saddle_search(pot, R, RSPRFO.molecular(numbers, R))`` (the API),
  ``jaxrxn saddle START.xyz --calc xtb --coords internal --json`` (the CLI, its own
  process) and ``Sella(order=1, internal=True)``, all to 0.01 eV/Å with no starting mode
  and no Hessian of any kind; the saddle index of each end point from a finite-difference
  harmonic analysis (``jaxrxn.vibrations``, not charged to the API search; the CLI
  report includes it, and its ``n_force_calls`` is given with and without it);
- from the API's saddle found from the climbing image: ``jaxrxn.irc.irc`` with the
  unstable mode of that harmonic analysis (its gradients charged to the IRC), ``jaxrxn irc
  TS.xyz --calc xtb --json`` and Sella's ``IRC`` (dx 0.1, both directions, fmax 0.01);
  end energies against the relaxed end states of ``find_reaction``.

Gradient calls are counted at the calculator. Writes benchmarks/results/saddle_irc_xtb.json.
Run: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/saddle_irc_xtb.py [hcn] [claisen]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.dirname(__file__))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.io import write  # noqa: E402

from _ase_reaction import in_worker_thread  # noqa: E402
from jaxrxn.commands.saddle import result_message  # noqa: E402
from reaction_molecules import load, sella_irc, sella_saddle  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results", "saddle_irc_xtb.json")
FMAX = 0.01


def climbing_image(numbers, R0, R1):
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    pot = xtb_potential(numbers)
    res = find_reaction(R0, R1, pot, refine_interpolation_max=False)  # the band's climbing image is the start
    ci = np.asarray(res.band[int(np.argmax(res.band_energies[1:-1])) + 1])
    return {"R": ci.tolist(), "e_initial": float(res.e_initial), "e_final": float(res.e_final), "find_reaction_calls": int(res.n_force_calls)}


def api_saddle(numbers, R):
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.saddle import RSPRFO, saddle_search
    from jaxrxn.vibrations import vibrations

    pot = xtb_potential(numbers)
    t = time.perf_counter()
    res = saddle_search(pot, jnp.asarray(R), RSPRFO.molecular(numbers, R), fmax=FMAX, max_steps=500, zero_modes_spec="free")
    seconds = time.perf_counter() - t
    calls = pot.energy_fn.n_calls
    assert calls == int(res.n_force_calls), (calls, int(res.n_force_calls))
    vib = vibrations(pot, res.R)
    return {
        "energy": float(res.energy), "n_force_calls": calls, "n_hessian_calls": int(res.n_hessian_calls),
        "converged": bool(res.converged), "result": result_message(res.result), "saddle_index": int(vib.n_imaginary),
        "imaginary_frequency_cm1": float(vib.imaginary_frequency), "harmonic_analysis_calls": int(vib.n_force_calls),
        "seconds": seconds, "R": np.asarray(res.R).tolist(), "mode": np.asarray(vib.modes[0]).tolist(),
    }  # fmt: skip


def cli(args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "jaxrxn.cli", *args, "--json", "-q"], capture_output=True, text=True, env=env)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["exit_code"], report["seconds"] = out.returncode, time.perf_counter() - t
    return report


def api_irc(numbers, R, mode):
    from jaxrxn.irc import irc
    from jaxrxn.potentials.qm import xtb_potential

    pot = xtb_potential(numbers)
    r = irc(pot, jnp.asarray(R), mode=jnp.asarray(mode), fmax=FMAX)
    assert pot.energy_fn.n_calls == int(r.n_force_calls)
    return {
        "n_force_calls": int(r.n_force_calls), "forward": float(r.forward.energy_min),
        "reverse": float(r.reverse.energy_min), "converged": bool(r.converged), "result": result_message(r.result),
    }  # fmt: skip


def run(name: str, row: dict) -> dict:
    numbers = load(name)[0]
    ci = np.array(row["climbing_image"]["R"])
    starts = {"climbing_image": ci, "rattle_0.05": ci + np.random.default_rng(0).normal(scale=0.05, size=ci.shape)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, start in starts.items():
            path = os.path.join(tmp, f"{label}.xyz")
            write(path, Atoms(numbers=numbers, positions=start))
            api = api_saddle(numbers, start)
            report = cli(["saddle", path, "--calc", "xtb", "--coords", "internal", "--output", os.path.join(tmp, f"ts_{label}.xyz")])
            report["n_force_calls_search"] = report["n_force_calls"] - api["harmonic_analysis_calls"]
            sella = in_worker_thread(sella_saddle, numbers, start, FMAX)
            row[f"saddle_from_{label}"] = {"api": {k: v for k, v in api.items() if k not in ("R", "mode")}, "cli": report, "sella": sella}
            print(name, label, json.dumps(row[f"saddle_from_{label}"]), flush=True)
            if label == "climbing_image":
                ts, mode = api["R"], api["mode"]
                ts_calls = api["harmonic_analysis_calls"]
        ts_path = os.path.join(tmp, "ts.xyz")
        write(ts_path, Atoms(numbers=numbers, positions=np.array(ts)))
        irc_api = api_irc(numbers, ts, mode)
        irc_api["harmonic_analysis_calls"] = ts_calls
        irc_api["n_force_calls_with_analysis"] = irc_api["n_force_calls"] + ts_calls
        row["irc"] = {"api": irc_api, "cli": cli(["irc", ts_path, "--calc", "xtb", "--fmax", str(FMAX)]), "sella": in_worker_thread(sella_irc, numbers, np.array(ts), FMAX)}
        print(name, "irc", json.dumps(row["irc"]), flush=True)
    return row


def main(names):
    results = json.load(open(OUT)) if os.path.exists(OUT) else {}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)

    def save():
        results["load_average"] = os.getloadavg()
        with open(OUT, "w") as fh:
            json.dump(results, fh, indent=1, default=float)

    for name in names:
        row = results.setdefault(name, {})
        if "climbing_image" not in row:  # the band is the expensive part: kept for reruns
            row["climbing_image"] = climbing_image(*load(name))
            save()
        results[name] = run(name, row)
        save()


if __name__ == "__main__":
    main(sys.argv[1:] or ["hcn", "claisen"])
