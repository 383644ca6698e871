"""The data card of a reaction data set built by :func:`jaxrxn.datasets.build_dataset`.

:func:`card_facts` reads the numbers from the HDF5 file; :func:`write_card` writes them as
markdown (with a barrier histogram, PNG beside the card). The card's tables are the facts
verbatim, so a test can check a committed card against the committed file.
"""

from __future__ import annotations

import json
import os

import numpy as np

from jaxrxn.datasets.builder import LEVEL, SPLITS

_EV_KCAL = 23.060547830619  # kcal/mol per eV


def card_facts(filename: str) -> dict:
    """Counts and distributions of the data set in `filename`.

    Keys: ``reactions``, ``reactive``, ``conformational``, ``connects_reactant``,
    ``molecules`` (in the list), ``molecules_with_reactions``, ``configurations`` (stored
    frames), ``elements`` (symbol -> atoms over all reactions), ``n_atoms`` (size ->
    reactions), ``barrier_ev`` (min, median, mean, max of the forward barriers
    ``E_TS - E_reactant``), ``splits`` (name -> [molecules, reactions]), ``type_splits``
    (name -> [reaction types, reactions]), ``config`` (the builder settings), ``starts``
    (start method, or ``no_search`` -> [attempts, reactions stored, reactions per attempt])
    and ``outcomes`` (start method or ``no_search`` -> attempt status -> attempts), from the
    ledger summary the builder stores (:func:`jaxrxn.datasets.builder.attempt_summary`).
    """
    import h5py
    from ase.data import chemical_symbols

    facts: dict = {}
    with h5py.File(filename, "r") as f:
        rxns = [g for grp in f["data"].values() for g in grp.values()]
        kinds = [g["kind"][()].decode() for g in rxns]
        facts["reactions"] = len(rxns)
        facts["reactive"] = kinds.count("reactive")
        facts["conformational"] = kinds.count("conformational")
        facts["connects_reactant"] = int(sum(bool(g["connects_reactant"][()]) for g in rxns))
        mol_split = [s.decode() for s in f["molecules/split"][()]]
        facts["molecules"] = len(mol_split)
        mols = [int(g["molecule"][()]) for g in rxns]
        facts["molecules_with_reactions"] = len(set(mols))
        facts["configurations"] = int(sum(g["positions"].shape[0] for g in rxns))
        elements: dict[str, int] = {}
        sizes: dict[int, int] = {}
        barriers = []
        for g in rxns:
            Z = g["atomic_numbers"][()]
            for z in Z:
                elements[chemical_symbols[int(z)]] = elements.get(chemical_symbols[int(z)], 0) + 1
            sizes[len(Z)] = sizes.get(len(Z), 0) + 1
            E = g[f"{LEVEL}.energy"][()]
            barriers.append(float(E[int(g["ts_index"][()])] - E[0]))
        facts["elements"] = dict(sorted(elements.items()))
        facts["n_atoms"] = {int(k): v for k, v in sorted(sizes.items())}
        b = np.array(barriers) if barriers else np.zeros(1)
        facts["barrier_ev"] = [round(float(x), 4) for x in (b.min(), np.median(b), b.mean(), b.max())]
        facts["splits"] = {
            s: [mol_split.count(s), sum(len(grp) for grp in f[s].values())] for s in SPLITS
        }  # fmt: skip
        facts["type_splits"] = {}
        for s in ("type_train", "type_test"):
            types = {g["reaction_type"][()].decode() for grp in f[s].values() for g in grp.values()}
            facts["type_splits"][s] = [len(types - {""}), sum(len(grp) for grp in f[s].values())]
        facts["config"] = json.loads(f.attrs["config"])
        summary = json.loads(f.attrs.get("attempts", "{}"))
        methods = [str(g["start_method"][()].decode()) for g in rxns if "start_method" in g]
        facts["starts"] = {
            m: [s["attempts"], methods.count(m), round(methods.count(m) / max(s["attempts"], 1), 2)]
            for m, s in summary.items() if s["attempts"]
        }  # fmt: skip
        facts["outcomes"] = {m: s["outcomes"] for m, s in summary.items() if s["attempts"]}
        facts["_barriers"] = barriers
    return facts


def write_card(filename: str, card: str) -> dict:
    """Write the markdown card of `filename` to `card` and the barrier histogram to
    ``<card stem>_barriers.png`` beside it. Returns the facts (:func:`card_facts`)."""
    facts = card_facts(filename)
    barriers = np.array(facts.pop("_barriers"))
    stem = os.path.splitext(card)[0]
    figure = stem + "_barriers.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(barriers, bins=np.arange(0.0, max(barriers.max(initial=1.0), 1.0) + 0.25, 0.25), color="tab:blue")
    ax.set_xlabel("forward barrier E(TS) - E(reactant), eV (GFN2-xTB)")
    ax.set_ylabel("reactions")
    fig.tight_layout()
    fig.savefig(figure, dpi=100)
    plt.close(fig)
    cfg = facts["config"]
    two_methods = "distortion" in facts["starts"]
    lo, med, mean, hi = facts["barrier_ev"]
    lines = [
        f"# Data card: {os.path.basename(filename)}",
        "",
        "GFN2-xTB elementary reactions of small C/H/N/O molecules, found by jaxrxn's own",
        "single-ended searches (`jaxrxn build-dataset`, module `jaxrxn.datasets.builder`):",
        "",
        "- reactants: SMILES list (`jaxrxn/data/reactants.smi`), RDKit ETKDG + MMFF94, relaxed",
        f"  with GFN2-xTB (tblite, L-BFGS to {cfg['fmax']} eV/Å);",
        f"- per molecule up to {cfg['attempts']} attempts (seed {cfg['seed']}), each started by"
        + (" one of two methods" if two_methods else ":"),
        *(
            [
                "  (table below: the builder changed its start method during the build, and resumed",
                "  with the new one; every attempt's `start` and `start_method` are stored):",
                "  - `distortion` (first builder): a random covalent bond stretched by 30-70 %, or a hydrogen",
                "    carried 30-60 % of the way towards one of the three nearest heavy atoms it is not",
                "    bonded to, plus 0.05 Å Gaussian noise; the saddle search starts there;",
            ]
            if two_methods
            else []
        ),
        f"  - `driven_scan`: a relaxed scan of {cfg['scan_points']} points along a random driving coordinate",
        "    (drawn with weights 0.6 hydrogen transfer, 0.2 1,2-H2 elimination, 0.2 bond formation between heavy atoms",
        f"    two or three bonds apart, among those the molecule has; harmonic restraint {cfg['restraint']} eV/Å², {cfg['noise']} Å noise",
        "    on the reactant); the search starts at the scan's highest point with the scan",
        "    direction as its first mode; a scan without an interior maximum ends the attempt",
        "    (`no_barrier`);",
        f"- RS-P-RFO in redundant internal coordinates to {cfg['fmax']} eV/Å; first-order saddle checked by a",
        "  finite-difference harmonic analysis (one imaginary frequency below -50 cm^-1); IRC down both",
        "  sides, ends relaxed; kept when the ends are distinct minima; duplicates (same molecule, TS",
        "  energy within 1 meV and same TS geometry or same end graphs) dropped;",
        f"- stored frames: reactant, up to {cfg['path_points']} IRC points per side, TS, product, each with",
        "  GFN2-xTB energy (eV) and forces (eV/Å); Transition1x layout, level `GFN2-xTB`",
        "  (`jaxrxn.generative.data.read_transition1x(FILE, split, level='GFN2-xTB')`).",
        "",
        "`kind` is `reactive` (bond graphs of the ends differ) or `conformational`; every elementary",
        "step found is kept, `connects_reactant` says whether one end is the reactant molecule.",
        "",
        "## Counts",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| reactions | {facts['reactions']} |",
        f"| reactive | {facts['reactive']} |",
        f"| conformational | {facts['conformational']} |",
        f"| connects_reactant | {facts['connects_reactant']} |",
        f"| molecules | {facts['molecules']} |",
        f"| molecules_with_reactions | {facts['molecules_with_reactions']} |",
        f"| configurations | {facts['configurations']} |",
        "",
        "## Start methods",
        "",
        *(
            ["Attempts (ledger of the build), reactions stored and reactions per attempt (`no_search`:",
             "the attempts that made no search, see the outcomes below):"]
            if "no_search" in facts["starts"]
            else ["Attempts (ledger of the build), reactions stored and reactions per attempt:"]
        ),  # fmt: skip
        "",
        "| start method | attempts | reactions | yield |",
        "|---|---|---|---|",
        *[f"| {k} | {v[0]} | {v[1]} | {v[2]} |" for k, v in facts["starts"].items()],
        "",
        "Outcomes of the attempts (`reaction`: stored; `no_barrier`: the scan found no maximum;",
        "`saddle_failed`: RS-P-RFO did not converge; `reactant`: it fell back to the reactant;",
        "`wrong_index`: not a first-order saddle; `same_ends`: the IRC ends are one minimum;",
        "`irc_failed`: the IRC did not converge; `duplicate`: a reaction found before;",
        *(
            ["`ts_not_highest`: an IRC end on a shoulder above the TS, left out; in the `no_search` column,",
             "attempts that made no search: `exhausted`: every driving coordinate of the molecule was",
             "tried before; `reactant_failed`: its 3D structure could not be made or relaxed):"]
            if "no_search" in facts["outcomes"]
            else ["`ts_not_highest`: an IRC end on a shoulder above the TS, left out):"]
        ),  # fmt: skip
        "",
        "| outcome | " + " | ".join(facts["outcomes"]) + " |",
        "|---|" + "---|" * len(facts["outcomes"]),
        *[
            f"| {o} | " + " | ".join(str(c.get(o, 0)) for c in facts["outcomes"].values()) + " |"
            for o in sorted({o for c in facts["outcomes"].values() for o in c})
        ],
        "",
        "## Elements (atoms over all reactions)",
        "",
        "| element | atoms |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in facts["elements"].items()],
        "",
        "## Size distribution",
        "",
        "| atoms | reactions |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in facts["n_atoms"].items()],
        "",
        "## Barriers",
        "",
        "Forward barrier E(TS) - E(reactant end), eV:",
        "",
        "| min | median | mean | max |",
        "|---|---|---|---|",
        f"| {lo} | {med} | {mean} | {hi} |",
        "",
        f"(median {med * _EV_KCAL:.1f} kcal/mol)",
        "",
        f"![barrier histogram]({os.path.basename(figure)})",
        "",
        "## Splits",
        "",
        "By reactant molecule (groups `train`, `val`, `test`: hard links into `data`; test",
        "molecules never appear in training; seeded permutation of the molecule list):",
        "",
        "| split | molecules | reactions |",
        "|---|---|---|",
        *[f"| {k} | {v[0]} | {v[1]} |" for k, v in facts["splits"].items()],
        "",
        "By reaction type (the multiset of element pairs of the bonds broken and formed; whole",
        "types held out; conformational steps stay in training):",
        "",
        "| type split | reaction types | reactions |",
        "|---|---|---|",
        *[f"| {k} | {v[0]} | {v[1]} |" for k, v in facts["type_splits"].items()],
        "",
    ]
    with open(card, "w") as f:
        f.write("\n".join(lines))
    return facts

