"""Train the pretrained GFN2-xTB TS generator on the shipped data set and measure it on
held-out reactant molecules.

Data: ``jaxrxn/data/xtb_reactions.h5`` (``--data``), split by reactant molecule: the model
trains on ``train``; ``val`` and ``test`` molecules (never seen in training) are the
held-out set. Model: :class:`~jaxrxn.generative.ts_generator.AtomisticTSFlow` (PaiNN, 32
features, 3 layers, velocities bounded by 3 Å per atom), React-OT-style flow matching from the IS-FS midpoint
(:func:`~jaxrxn.generative.ts_generator.train_ts_flow`, the same loop as the 2D benchmarks),
reactions padded to one size (:func:`~jaxrxn.generative.ts_generator.molecular_ts_set`).

Per held-out reaction, at GFN2-xTB (tblite, one thread):

- TS RMSD after Kabsch alignment (Å) to the data set's TS, and ``|E(x) - E_TS|`` (kcal/mol)
  before any refinement, for the generated TS (Heun, 4 steps) and the baselines: the
  linear midpoint, the highest point of the IDPP band and of the geodesic band (11
  images each, energies by GFN2-xTB), and the geodesic band's middle image (the midpoint
  in its metric, which needs no energies);
- refinement (RS-P-RFO with :func:`jaxrxn.reaction.molecular_saddle_solver`'s settings,
  fmax 0.01 eV/Å, 300 steps, as ``jaxrxn generate-ts --polish``) from the generated TS and
  from the best interpolation maximum: success = converged to the data set's TS (Kabsch
  RMSD < 0.1 Å and energy within 0.01 eV), gradient calls.

- the nearest training reaction (a retrieval baseline that knows the training set but not
  the held-out TS): held-out molecules have no training reaction with the same atoms, so
  what is transferred is where the TS lies along the path. Nearest = same reaction type
  (the bonds broken and formed, by element pair) if a training reaction has it, else any,
  and among those the closest reaction energy ``E(FS) - E(IS)`` (known before any TS
  search; Hammond's postulate ties it to the TS position). Its TS's arc-length fraction
  along its stored IRC path is applied to the held-out reaction's geodesic path
  (:func:`nearest_reaction_guess`).

``--load FILE`` evaluates a saved model instead of training one (``--save`` then writes it
again with the new held-out metrics; its recorded training command and configuration are
kept). ``--compare FILE`` adds the generated TS of another saved model (e.g. the shipped one)
as a row ``previous model`` (before refinement only).

``--save FILE`` writes the model with its metadata (this command line, seed, data-set
checksum, elements, largest size, held-out metrics, and per-reaction RMSDs of the first
held-out reactions that ``tests/test_generate_ts.py`` re-checks). ``--limit N`` evaluates
the first N held-out reactions only (reactive first: for the slow refinements). The shipped
weights, then the refinements and both pipelines on the first 40 (two processes, then the
join)::

    OMP_NUM_THREADS=1 python benchmarks/ts_generator_xtb.py --steps 20000 --features 64 --end-state-pairs --no-refine --checkpoint CK.npz --save jaxrxn/data/ts_generator_gfn2_xtb.npz
    OMP_NUM_THREADS=1 python benchmarks/ts_generator_xtb.py --load jaxrxn/data/ts_generator_gfn2_xtb.npz --limit 40 --pipeline --guided --part 0/2 --out P0.json   # and --part 1/2 --out P1.json
    OMP_NUM_THREADS=1 python benchmarks/ts_generator_xtb.py --load jaxrxn/data/ts_generator_gfn2_xtb.npz --limit 40 --pipeline --guided --merge P0.json P1.json --out benchmarks/results/ts_generator_xtb_guided.json
    OMP_NUM_THREADS=1 python benchmarks/ts_generator_xtb.py --load jaxrxn/data/ts_generator_gfn2_xtb.npz --limit 40 --pipeline --guided --peer --resume --out benchmarks/results/ts_generator_xtb_guided.json

and on all 223, the guess then the interpolation's maximum, added to session 30's run (each
part keeps every row and adds the column to its share; the merge joins them)::

    OMP_NUM_THREADS=1 python benchmarks/ts_generator_xtb.py --load jaxrxn/data/ts_generator_gfn2_xtb.npz --guided --then-max --merge benchmarks/results/ts_generator_xtb_guided_all.json --part 0/2 --out T0.json   # and 1/2, T1.json
    OMP_NUM_THREADS=1 python benchmarks/ts_generator_xtb.py --load jaxrxn/data/ts_generator_gfn2_xtb.npz --guided --then-max --up-to-symmetry --merge T0.json T1.json --out benchmarks/results/ts_generator_xtb_then_max_all.json

(the shipped file's recorded command names the scratch paths it was written to; the
checkpoint resumes bit for bit, and this one was interrupted once, at 6,000 steps).

``--out`` is rewritten after every evaluated reaction, and ``--resume`` keeps the reactions
already there, so an interrupted evaluation (the refinements take about a minute a
reaction) resumes where it stopped; a file written with another model, ``--compare`` model,
refinement, pipeline or saddle bond-scale setting, or from other data, is refused. ``--part I/N``
evaluates every N-th of the chosen reactions from the I-th, so that N processes share one
run (each with its own ``--out``); a last run with ``--merge`` their files keeps their rows
(with the same checks), evaluates what none did and writes the summary of all. (The results committed
before session 21 were resumed through a separate ``--rows`` file, since removed; their
``evaluated_by`` still names it.)

``--pipeline`` adds, per refined reaction, the whole CI-NEB reaction pipeline
(:func:`jaxrxn.find_reaction` from the data set's end states): does it reach the data set's
TS, with how many gradients up to the TS (:func:`pipeline_ts`). ``--guided`` adds the same
pipeline given the generated TS (``find_reaction(..., ts_guess=...)``, ``jaxrxn reaction
--ts-guess``): saddle search, frequencies and IRC from the guess, the band only if that
saddle does not connect the end states. ``--peer`` adds the ASE + Sella pipeline a careful
user writes (benchmarks/_ase_reaction.py: IDPP, ``ase.mep.NEB(climb=True)`` with BFGS to 0.05
eV/Å, Sella in internal coordinates from the climbing image, Sella's IRC both ways; the
same end states, not relaxed again, and the same calculator settings), in the same process
as the rows it adds; with ``--resume`` it is added to rows of an earlier run that lack it
(the peer depends on neither the model nor the settings), and ``evaluated_by`` names every
command that wrote the file. ``--then-max`` adds, the same way, the guided pipeline with the
interpolation's highest image as its second start (``find_reaction(...,
refine_interpolation_max=True)``, ``jaxrxn reaction --refine-interpolation-max``: the guess,
then that image, then the band). Pipeline rows compare their saddle with the data set's TS
also over mirror images and renumberings of like atoms
(``rmsd_to_data_ts_up_to_symmetry``, :func:`jaxrxn.geometry.rmsd_up_to_symmetry`; summary
``verified_same_ts_up_to_symmetry``); ``--up-to-symmetry`` adds it to rows written before,
running again (and checking that it reproduces) each pipeline whose saddle has the data
set's TS energy but lies beyond 0.1 Å. With ``--part``, each part's add-on columns join at
the merge.

A process that runs many reactions compiles solvers for each one and JAX keeps them: in
session 23 a process stopped with ``LLVM ERROR: Unable to allocate section memory`` after
9-10 reactions with ``--pipeline --guided`` (compiled code holds memory mappings, and the
kernel allows 65,530 per process), and the committed run was finished by restarting it with
``--resume``. :func:`jaxrxn.find_reaction` alone on GFN2-xTB adds 1,900-3,800 mappings per
reaction (5 held-out reactions: 634 -> 14,044); with ``jax.clear_caches()`` after each they
stay at 900, so the evaluation loop now clears them when the process holds half its limit
(:func:`jaxrxn._jit.clear_caches_near_map_limit`, as :func:`jaxrxn.batch.find_reactions`).
Since session 24 the saddle search's internal coordinates are padded to lengths set by the
atom count (:func:`jaxrxn.saddle.internal.padded_internals`): a new size adds ~4,000
mappings, a further reaction of that size ~10, and the pipeline on a further reaction of a
size takes 1.0-1.4 s instead of ~35-50 s (the committed 40-reaction run below, 17.5 min,
was made before the coordinate builder's rank tests were padded too, and still compiled
those per reaction).

Measured (full data set: 806 train reactions of 185 molecules, 223 held out from 45
molecules; no refinement; ``results/ts_generator_xtb.json``), median / mean TS RMSD (Å)
and median |dE_TS| (kcal/mol): the shipped model (20,000 steps, shipped in session 21;
4,733 s for the last 14,000 beside other runs on 2 cores) 0.194 / 0.243 / 12.0; the model
shipped before it, the same command at 10,000 steps (3,203 s;
``results/ts_generator_xtb_10k.json``), 0.219 / 0.264 / 14.2: the longer-trained one is
closer on 154 of the 223 reactions, within 0.1 Å of the TS on 50 (34) and within 2
kcal/mol on 40 (28), a bootstrap 95 % interval of the change in median RMSD -0.042 to
-0.004 Å; without ``--end-state-pairs`` (2,440 s) 0.256 / 0.285 / 18.5; 32 features and
3,000 steps 0.288 / 0.325 / 35.6. Baselines: linear midpoint 0.300 / 0.336 / 69.0; IDPP
maximum 0.301 / 0.331 / 33.2; geodesic maximum 0.249 / 0.288 / 15.0; geodesic midpoint (no
energies) 0.249 / 0.295 / 14.4; nearest training reaction 0.259 / 0.309 / 11.3. Closer
than every interpolation and the nearest training reaction (median 22 % closer than the
geodesic maximum and midpoint) and lower in energy error than the interpolations (12.0 vs
14.4 kcal/mol), though not than the nearest training reaction (11.3); far from React-OT
(0.053 Å and 1.06 kcal/mol on Transition1x's ~10,000 training reactions at the DFT
level). With IS and FS distances as filter inputs the network fits its own training
reactions better too (an ablation at 32 features and 1,500 steps, 40 random reactions
each: train 0.250 vs 0.283 Å, held out 0.289 vs 0.314 Å median). The model before those
(48 train reactions of the 62-reaction snapshot, 32 features, 2,000 steps): 0.372 / 0.403
/ 77.6 on that snapshot's 14 held-out reactions, where the geodesic maximum gave 0.266 /
0.302 / 21.8.

**Refined and verified since session 23** (the first 40 reactive held-out reactions, 7-11
atoms, with the saddle settings of the reaction pipeline: ``RSPRFO.molecular`` with bonds to
1.45x covalent; ``results/ts_generator_xtb_guided.json``, run again in session 24 in one
process with ``--peer``, 17.5 min in all on one core; the jaxrxn columns run again in session
26 after the IRC's flat-saddle mends, the peer's rows kept; in session 27 the 8 reactions whose
pipelines failed verify or fell back to the band run again after verify's end relaxation, the
same outcomes, and then 9 (those and rxn0081_0006) after the step off second-order points:
the CI-NEB pipeline verifies rxn0081_0006, the data set's TS in another conformation, 0.28 Å
away): the data set's TS from the shipped
model's guess in **34 of 40** (median 28.5 gradients, 1,776 over the 40), from the better
interpolation maximum in 33 of 40 (median 30, 1,388), by the CI-NEB pipeline in 32
(verified by its IRC 31; median 117 gradients up to the TS, 273 in all, 13,598 over the
40 (14,337 after session 27's two mends; 13,280 before session 26's), by the **pipeline given the generated TS** (``--guided``) in **36 of 40** (verified
35; from the guess itself 33, from the band after the guess failed 3; median 29 gradients up
to the TS, **11,374 over the 40** (12,696 after session 27's two mends, the same outcomes); 10,743 before session 26's mends, the same outcomes), and by the ASE + Sella pipeline in 26 of
40 (IRC-verified and the data set's TS 22; 13 stopped by an SCF failure inside ASE's NEB,
which does not step back from one as jaxrxn's does, 4 by Sella's IRC inner loop; median 253
gradients up to the TS, 422.5 in all, 30,496 over the 40). On the 32 both jaxrxn pipelines
solve, the guided one takes **7,975 vs 9,678 gradients (0.82x**; 0.78x before the mends; 8,698 vs 9,844, 0.88x, after session 27's two mends: the end relaxation's extra calls fall on rxn0185_0010, the data set's TS found by both but not verified (its IRC reaches the product with two H atoms exchanged), and rxn0060_0005's guess, which ends at a point of index 2 or more, is now stepped off without a verified saddle (+382) before the band finds the TS), and it solves 4 the CI-NEB
pipeline does not (rxn0081_0006, rxn0081_0012, rxn0183_0002, rxn0185_0003) and none that it
alone misses; on the 26 ASE + Sella solves (both jaxrxn pipelines solve them too) **the
CI-NEB pipeline takes 0.54x its gradients (7,224 vs 13,355), the guided one 0.33x
(4,411)**. On rxn0081_0010 the guess leads to a saddle whose IRC connects IS and FS but
that is not the data set's TS (every start misses that one). Short of the goal (95 %); the
guess alone refines more often than the maximum (34 vs 33) at a lower median cost (28.5 vs
30), though not in total gradients (the 6 failures cost more). Against session 23's run of
the same reactions before the padding of the internal coordinates every outcome is the same;
9 long searches took other step counts (rounding; e.g. the guided pipeline on rxn0185_0001
verified from the band with 818 gradients instead of from the guess with 262), so the
guided total rose from 10,528 and its ratio from 0.75x.

Tried and not adopted (session 24, scratch runs): a band through the guess (geodesic
IS-guess-FS) as the fallback when the guess does not verify finds the data set's TS in 1 of
the 3 reactions the guided pipeline misses, rxn0145_0000, whose own TS does not verify
either (its IRC ends 0.87 and 2.0 Å from the end states); polishing the guess on the shipped
NNP first (P-RFO, median 15 NNP gradients) leaves it no closer (median 0.189 vs 0.151 Å on
33 reactions) and the refinement finds the data set's TS less often (24 vs 28 of 33).

Refined with the earlier settings (session 21: ``RSPRFO.molecular`` with its own bond scale
1.3; ``results/ts_generator_xtb_refined.json``): the data set's TS from the shipped
model's guess in 32 of 40 (median 26.5 gradients, 1,596 over the 40), from the better
interpolation maximum in 34 of 40 (median 29, 1,335 over the 40, plus the bands' 20
energies), by the CI-NEB pipeline in 31 of 40 (median 117 gradients up to the TS; the
pipeline does not use the model: ``results/ts_generator_xtb_10k_refined.json``, the run of
the 10,000-step model with ``--pipeline``; with the pipeline's saddle stage of session 22,
``RSPRFO.molecular`` with bonds to 1.45x covalent, 32 of 40 (the 31 and one more), median
117, in ``results/ts_generator_xtb_guided.json`` since session 23; with ``molecular``'s
own bond scale 1.3, 33 of 40); 36 of 40 by the guess or the maximum. The
10,000-step model's guesses: 30 of 40 (median 27, 2,701 over the 40); on the 29 all three
find, 865 / 861 / 4,016 gradients (generated / maximum / pipeline), and every reaction its
guess refines to the maximum refines to as well, at the same cost (895 vs 890 gradients
on 30). With the RS-P-RFO settings used before (Lindh's model Hessian, Bofill updates,
the 2-norm trust radius, internal coordinates built at the guess) the 10,000-step model's
guesses gave 29 of 40 (median 32; 3,977 gradients) and the maximum 32 of 40 (median 36;
2,209) (those rows were reproduced exactly in session 21 before the switch); the
20,000-step model's guesses 28 of 40 (median 35.5; session 20), which is why it was not
shipped then (nor while the CLI test's reaction, then the smallest held-out one, C4H2,
did not polish from its guess; from the 10,000-step model's guess it polished only under
the test suite's XLA flags, a coin toss). Starting the first Davidson search from FS - IS
(``mode0``) instead of the gradient gained nothing (a scratch run on the first 35: 24 vs
25 of 35 with ``molecular``, 26 vs 24 with the old settings). Short of the goal (median
0.1 Å, 2 kcal/mol, 95 % refined with fewer gradients than from the best interpolation
maximum).

A negative result (session 22): training on every reaction both ways (``--both-ways``,
:func:`~jaxrxn.generative.ts_generator.molecular_ts_set` with ``reverse``; the shipped model,
trained one way, is not symmetric: from (FS, IS) its median is 0.274 Å against 0.194, and the
mean of the two guesses 0.214) at the 10,000-step model's settings and steps (3,442 s) ends at
0.240 / 0.271 Å and 13.0 kcal/mol on the 223 against that model's 0.219 / 0.264 / 14.2: closer
on 98 of 223, a bootstrap 95 % interval of the change in median RMSD +0.003 to +0.040 Å. At a
fixed number of steps each direction is seen half as often. Nor does the sampler help (scratch,
the shipped model on the 223): Heun with 8 or 16 steps instead of 4 gives the same median RMSD
(0.194 Å; |dE| 11.5 and 11.3 kcal/mol), the mean of 8 samples from a noisy source (0.02 Å)
0.195 Å, and the lowest-energy of those 8 (8 GFN2-xTB energies) 0.191 Å, though 7.0 kcal/mol.

Another negative result (session 22, scratch): polishing the guess on the shipped neural-network
potential first (``jaxrxn.nnp.pretrained``, trained on the same train split; P-RFO on its exact
Hessians to 0.01 eV/Å, converged on all of the first 40 reactive held-out reactions, no GFN2-xTB
gradient) brings the energy closer (median |dE_TS| 7.0 -> 4.4 kcal/mol) but the geometry further
away (median RMSD 0.136 -> 0.225 Å), and GFN2-xTB refinement from the NNP's saddle finds the data
set's TS in 27 of 40 (from the guess itself 32), with 3,192 gradients over the 40 (1,596): the
network's saddles are near the right energy at the wrong place.

A negative result (session 19, a scratch ablation at 32 features, 1,500 steps, the same 40
random train and 40 held-out reactions for both): the geodesic midpoint as the flow's
source instead of the linear midpoint. The source itself is closer (held out median 0.236
vs 0.295 Å), but the flow trained from it ends at 0.270 Å (from the linear source 0.279), so
it moves a good start away from the TS; its training loss stayed 4x higher (0.064 vs 0.017
Å² per atom), the geodesic midpoint being far off on a few reactions (up to 0.8 Å).
And without retraining (session 35, scratch): the shipped model integrated (Heun, 4 steps)
from the geodesic midpoint placed at a later time t0 of the flow instead of from the linear
midpoint at t = 0, on all 223 held-out reactions: median RMSD 0.90 / 0.75 / 0.58 / 0.46 /
0.37 / 0.32 Å for t0 = 0, 0.1, ..., 0.5 (from the linear midpoint: 0.194; the geodesic
midpoint itself: 0.245). The learned velocity hardly depends on where the sample is: from
a deterministic source the network learns the displacement from the linear midpoint to
the TS, which added to another start overshoots.

Writes ``benchmarks/results/ts_generator_xtb.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _generative import add_part_arguments, add_training_arguments, data_record, evaluate_each, evaluated_by, file_sha256, part_of, rows_to_resume  # noqa: E402

from jaxrxn._jit import clear_caches_near_map_limit  # noqa: E402
from jaxrxn.reaction import SADDLE_BOND_SCALE  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
KCAL_PER_EV = 23.060548
SAME_TS_RMSD, SAME_TS_DE = 0.1, 0.01
#: row key of ``--then-max``: the guided pipeline, then the interpolation's highest image
THEN_MAX = "guided then max pipeline"
#: row key of ``--max-first``: the pipeline without the guess, the interpolation's highest image first
MAX_FIRST = "max first pipeline"
#: the reaction pipelines of a row: find_reaction's (ts_guess, refine_interpolation_max) per key
PIPELINES = {"CI-NEB pipeline": (False, False), "guided pipeline": (True, False), THEN_MAX: (True, True), MAX_FIRST: (False, True)}


def main():
    from jaxrxn.generative.data import read_transition1x
    from jaxrxn.generative.flow import load_model, save_model
    from jaxrxn.generative.ts_generator import AtomisticTSFlow, TSFlowConfig, molecular_ts_set, train_ts_flow

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(ap, steps=3000)
    ap.add_argument("--v-max", type=float, default=3.0, help="velocity bound per atom, Å (AtomisticTSFlow.v_max)")
    ap.add_argument("--end-state-pairs", action="store_true",
                    help="the network's filters also see IS and FS interatomic distances (AtomisticTSFlow.end_state_pairs)")
    ap.add_argument("--both-ways", action="store_true",
                    help="train on every reaction run backwards too (molecular_ts_set(reverse=True))")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-refine", action="store_true", help="skip the saddle refinements (fast)")
    ap.add_argument("--pipeline", action="store_true",
                    help="with refinement, also run the CI-NEB reaction pipeline (jaxrxn.find_reaction) per reaction")
    ap.add_argument("--guided", action="store_true",
                    help="with refinement, also run the reaction pipeline from the generated TS (find_reaction's ts_guess)")
    ap.add_argument("--then-max", action="store_true",
                    help="also run the guided pipeline with the interpolation's highest image as the second start "
                         "(find_reaction(refine_interpolation_max=True)); with --resume, added to the rows that lack it")
    ap.add_argument("--max-first", action="store_true",
                    help="also run the pipeline without the guess, the interpolation's highest image before the band "
                         "(find_reaction(refine_interpolation_max=True)); with --resume, added to the rows that lack it")
    ap.add_argument("--up-to-symmetry", action="store_true",
                    help="rows written before rmsd_to_data_ts_up_to_symmetry: run again the pipelines whose saddle has the data "
                         "set's TS energy but lies farther than 0.1 Å, to compare it over mirror images and renumberings")
    ap.add_argument("--peer", action="store_true",
                    help="also run the ASE + Sella pipeline (IDPP, ASE's CI-NEB, Sella, Sella's IRC) per reaction; "
                         "with --resume, added to the rows that lack it")  # fmt: skip
    ap.add_argument("--limit", type=int, help="evaluate only the first LIMIT held-out reactions (reactive first)")
    ap.add_argument("--save", help="write the trained model (.npz) with its metadata")
    ap.add_argument("--checkpoint", help="training checkpoint (.npz): written as it trains, resumed from if it exists")
    ap.add_argument("--load", help="evaluate this saved model instead of training one")
    ap.add_argument("--compare", help="also evaluate this saved model's generated TS (row 'previous model')")
    ap.add_argument("--out", default=str(HERE / "results" / "ts_generator_xtb.json"))
    ap.add_argument("--resume", action="store_true",
                    help="keep the reactions already in --out (same model, --compare, refinement and pipeline) and evaluate the rest")
    add_part_arguments(ap)
    a = ap.parse_args()

    train = read_transition1x(a.data, "train", level="GFN2-xTB")
    held = held_out_reactions(a.data)
    n_max = max(len(r.numbers) for r in train + held)
    data = molecular_ts_set(train, n_max, reverse=a.both_ways)
    print(f"train: {len(train)} reactions from {len(set(np.asarray(data.seed).tolist()))} molecules; "
          f"held out: {len(held)} reactions from {len({int(r.extras['molecule']) for r in held})} molecules", flush=True)  # fmt: skip
    command = " ".join(["python", "benchmarks/ts_generator_xtb.py", *sys.argv[1:]])
    config = {"steps": a.steps, "batch": a.batch, "lr": a.lr, "features": a.features, "layers": a.layers, "v_max": a.v_max,
              "end_state_pairs": a.end_state_pairs, "seed": a.seed, **({"both_ways": True} if a.both_ways else {})}
    t0 = time.perf_counter()
    if a.load:
        model, params, meta = load_model(a.load)
        command, config = meta["command"], meta["config"]
    else:
        model = AtomisticTSFlow(features=a.features, n_layers=a.layers, v_max=a.v_max, end_state_pairs=a.end_state_pairs)
        cfg = TSFlowConfig(n_steps=a.steps, batch_size=a.batch, learning_rate=a.lr, seed=a.seed)
        params = train_ts_flow(model, data, cfg, log_every=max(a.steps // 10, 1),
                               callback=lambda s, m: print(f"  step {s:6d}  loss {m['loss']:.5f} Å²/atom", flush=True),
                               checkpoint=a.checkpoint).params  # fmt: skip
    train_s = time.perf_counter() - t0
    previous = load_model(a.compare)[:2] if a.compare else None
    settings = {"model": file_sha256(a.load) if a.load else config, "compare": a.compare and file_sha256(a.compare),
                "refine": not a.no_refine, "pipeline": a.pipeline,
                "saddle_bond_scale": None if a.no_refine else SADDLE_BOND_SCALE, **({"guided": True} if a.guided else {})}  # fmt: skip
    data_info = data_record(a.data, len(train), len(held))
    rows = rows_to_resume(a, [r.rxn for r in held], settings=settings, data=data_info)

    by = evaluated_by("ts_generator_xtb.py", a.out, rows, a.merge)

    def write(rows):
        result = {"command": command, "evaluated_by": by,
                  "settings": settings, "data": data_info, "config": config, "train_seconds": None if a.load else round(train_s, 1),
                  "summary": summarise(rows), "reactions": rows}  # fmt: skip
        pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")

    chosen = part_of(held[: a.limit], a.part)
    # add-ons that need no other part of a row: the rows of an earlier run get them too
    add_ons = {"ASE + Sella pipeline": (a.peer, peer_ts), THEN_MAX: (a.then_max, lambda r: pipeline_of(THEN_MAX, model, params, r)),
               MAX_FIRST: (a.max_first, lambda r: pipeline_of(MAX_FIRST, model, params, r))}  # fmt: skip
    wanted = {r.rxn: r for r in chosen}
    for key, run in ((key, run) for key, (asked, run) in add_ons.items() if asked):
        for row in rows:
            if row["rxn"] in wanted and key not in row:
                row[key] = run(wanted[row["rxn"]])
                print(json.dumps({"rxn": row["rxn"], key: row[key]}), flush=True)
                write(rows)
                clear_caches_near_map_limit()
    for key in PIPELINES if a.up_to_symmetry else ():
        for row in rows:
            if row["rxn"] in wanted and key in row and needs_symmetry_check(row[key]):
                row[key] = with_symmetry(key, row, model, params, wanted[row["rxn"]])
                print(json.dumps({"rxn": row["rxn"], key: row[key]}), flush=True)
                write(rows)
    evaluate_each(chosen, rows, lambda r: evaluate(model, params, r, train, refine=not a.no_refine, previous=previous,
                                                   pipeline=a.pipeline, guided=a.guided, then_max=a.then_max, max_first=a.max_first,
                                                   peer=a.peer), write)  # fmt: skip
    summary = summarise(rows)  # also when every reaction was resumed
    print(json.dumps(summary, indent=1))
    if a.save:
        elements = sorted({int(z) for r in train for z in r.numbers})
        check = [{"rxn": r["rxn"], "rmsd": r["generated"]["rmsd"]} for r in rows[:2]]
        save_model(a.save, model, params, elements=elements, max_atoms=n_max, level="GFN2-xTB",
                   command=command, data={**data_info, "evaluated": len(rows)}, config=config,
                   held_out=summary, check=check)  # fmt: skip
        print(f"saved {a.save} ({pathlib.Path(a.save).stat().st_size / 1e6:.2f} MB)")


def held_out_reactions(data) -> list:
    """The held-out reactions (``test`` then ``val`` molecules) of the data set at `data`,
    the reactive ones first (``--limit`` takes the first)."""
    from jaxrxn.generative.data import read_transition1x

    held = read_transition1x(data, "test", level="GFN2-xTB") + read_transition1x(data, "val", level="GFN2-xTB")
    return [r for r in held if r.extras["kind"] == b"reactive"] + [r for r in held if r.extras["kind"] != b"reactive"]


def stored_ts(r) -> tuple[np.ndarray, float]:
    """The data set's TS of reaction `r`: geometry ``(N, 3)`` (Å) and energy (eV)."""
    return np.asarray(r.transition_state, float), float(r.energies[int(r.extras["ts_index"])])


def path_fraction(path: np.ndarray, index: int) -> float:
    """Arc-length fraction (Cartesian, Å) of frame `index` along `path` ``(P, N, 3)``."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm((path[1:] - path[:-1]).reshape(len(path) - 1, -1), axis=1))])
    return float(s[index] / s[-1])


def point_at_fraction(path: np.ndarray, f: float) -> np.ndarray:
    """The point at arc-length fraction `f` of the piecewise-linear `path` ``(P, N, 3)``."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm((path[1:] - path[:-1]).reshape(len(path) - 1, -1), axis=1))])
    flat = path.reshape(len(path), -1)
    return np.array([np.interp(f * s[-1], s, col) for col in flat.T]).reshape(path.shape[1:])


def nearest_reaction_guess(r, train, geodesic_path: np.ndarray, reaction_energy: float) -> tuple[np.ndarray, str]:
    """The nearest-training-reaction baseline for held-out reaction `r` (module docstring):
    the training reaction of the same type (else any) with the closest reaction energy
    (eV), its TS's arc-length fraction along its stored IRC path placed on `geodesic_path`.
    Returns the guess and the chosen training reaction's name."""
    same = [q for q in train if q.extras["reaction_type"] == r.extras["reaction_type"]] or train
    q = min(same, key=lambda q: abs(float(q.energies[-1] - q.energies[0]) - reaction_energy))
    return point_at_fraction(geodesic_path, path_fraction(np.asarray(q.positions, float), int(q.extras["ts_index"]))), q.rxn


def generated_ts(model, params, r) -> np.ndarray:
    """The generator's TS for reaction `r`, Heun 4 steps, as ``jaxrxn generate-ts`` makes it."""
    from jaxrxn.generative.ts_generator import canonical_frame

    x_is, x_fs = canonical_frame(r.reactant, r.product)
    ts, _ = _sample(model, params, jnp.asarray(x_is), jnp.asarray(x_fs), jnp.asarray(r.numbers))
    return np.asarray(ts) + np.mean(r.reactant, axis=0)  # back in the stored reactant's frame (for energies)


@eqx.filter_jit
def _energy(pot, X):
    return pot.energy(X)


def highest_interior_image(pot, band) -> np.ndarray:
    """The interior image ``(N, 3)`` of `band` ``(n_images, N, 3)`` (Å) highest in `pot`'s
    energy (``n_images - 2`` energies)."""
    inner = np.asarray(band)[1:-1]
    return inner[int(np.argmax([float(_energy(pot, jnp.asarray(X))) for X in inner]))]


@eqx.filter_jit
def _sample(model, params, x_is, x_fs, numbers):
    from jaxrxn.generative.ts_generator import sample_ts

    return sample_ts(model, params, x_is, x_fs, numbers, n_steps=4)


def evaluate(model, params, r, train, refine: bool, previous=None, pipeline: bool = False, guided: bool = False,
             then_max: bool = False, max_first: bool = False, peer: bool = False) -> dict:  # fmt: skip
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.path import idpp
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.system import System

    pot = xtb_potential(r.numbers)
    x_ts, e_ts = stored_ts(r)
    x_is, x_fs = np.asarray(r.reactant, float), np.asarray(r.product, float)
    energy = lambda X: _energy(pot, X)  # noqa: E731
    starts = {"generated": generated_ts(model, params, r), "linear midpoint": 0.5 * (x_is + x_fs)}
    starts["IDPP max"] = highest_interior_image(pot, idpp(jnp.asarray(x_is), jnp.asarray(x_fs), 11))
    geo = np.asarray(geodesic(jnp.asarray(x_is), jnp.asarray(x_fs), 11, System(jnp.asarray(r.numbers))).path)
    starts["geodesic max"] = highest_interior_image(pot, geo)
    starts["geodesic midpoint"] = geo[len(geo) // 2]  # the metric's midpoint: no energies needed
    e_reaction = float(energy(jnp.asarray(x_fs))) - float(energy(jnp.asarray(x_is)))
    starts["nearest training reaction"], nearest = nearest_reaction_guess(r, train, geo, e_reaction)
    if previous is not None:
        starts["previous model"] = generated_ts(*previous, r)
    row = {"rxn": r.rxn, "formula": r.formula, "n_atoms": len(r.numbers), "kind": str(r.extras["kind"].astype(str)),
           "barrier_ev": float(e_ts - r.energies[0]), "nearest": nearest}  # fmt: skip
    for name, X in starts.items():
        row[name] = {"rmsd": rmsd_numpy(X, x_ts), "abs_de_kcal": abs(float(energy(jnp.asarray(X))) - e_ts) * KCAL_PER_EV}
    if refine:
        best = min(("IDPP max", "geodesic max"), key=lambda k: row[k]["abs_de_kcal"])
        for name in ("generated", best):
            row[name]["refined"] = refine_ts(pot, r.numbers, starts[name], x_ts, e_ts)
        row["best interpolation"] = best
        for key, asked in zip(PIPELINES, (pipeline, guided, then_max, max_first)):
            if asked:
                guess, first_max = PIPELINES[key]
                row[key] = pipeline_ts(pot, x_is, x_fs, x_ts, e_ts, ts_guess=starts["generated"] if guess else None,
                                       refine_interpolation_max=first_max)  # fmt: skip
    if peer:
        row["ASE + Sella pipeline"] = peer_ts(r)
    print(json.dumps(row), flush=True)
    return row


def refine_ts(pot, numbers, X, x_ts, e_ts, mode0=None) -> dict:
    """RS-P-RFO from `X` with ``jaxrxn generate-ts --polish``'s settings
    (:func:`jaxrxn.reaction.molecular_saddle_solver`; its Davidson refinement starts from
    the gradient, or from `mode0`, ``(N, 3)``, if given); success = the data set's TS."""
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.reaction import molecular_saddle_solver

    solver = molecular_saddle_solver(numbers, X)
    res = _saddle(pot, jnp.asarray(X), solver, None if mode0 is None else jnp.asarray(mode0))
    same = bool(res.converged) and rmsd_numpy(np.asarray(res.R), x_ts) < SAME_TS_RMSD and abs(float(res.energy) - e_ts) < SAME_TS_DE
    return {"converged": bool(res.converged), "same_ts": same, "n_force_calls": int(res.n_force_calls)}


def pipeline_of(key: str, model, params, r) -> dict:
    """The row of pipeline `key` (one of :data:`PIPELINES`) for reaction `r`, as
    :func:`evaluate` makes it: for a row evaluated before (``--then-max``, ``--max-first``,
    ``--up-to-symmetry``)."""
    from jaxrxn.potentials.qm import xtb_potential

    x_ts, e_ts = stored_ts(r)
    guess, first_max = PIPELINES[key]
    return pipeline_ts(xtb_potential(r.numbers), np.asarray(r.reactant, float), np.asarray(r.product, float), x_ts, e_ts,
                       ts_guess=generated_ts(model, params, r) if guess else None, refine_interpolation_max=first_max)  # fmt: skip


def with_symmetry(key: str, row: dict, model, params, r) -> dict:
    """``row[key]`` with ``rmsd_to_data_ts_up_to_symmetry`` from the pipeline run again,
    which must reach the row's saddle (within 0.01 Å and 1 meV of the row's distance and
    energy difference to the data set's TS; else this stops). On the machine that wrote
    the row the run is identical; on another one a search may take other steps (session
    31: rxn0039_0010's guess took 204 calls, session 30's run 228, to the same saddle)."""
    again = pipeline_of(key, model, params, r)
    old = row[key]
    if again["rmsd_to_data_ts"] is None or abs(again["rmsd_to_data_ts"] - old["rmsd_to_data_ts"]) > 0.01 \
            or abs(again["ts_minus_data_ev"] - old["ts_minus_data_ev"]) > 1e-3:  # fmt: skip
        raise SystemExit(f"{r.rxn} {key}: the run again does not reach the row's saddle ({again} vs {old})")
    return {**old, "rmsd_to_data_ts_up_to_symmetry": again["rmsd_to_data_ts_up_to_symmetry"]}


def pipeline_ts(pot, x_is, x_fs, x_ts, e_ts, ts_guess=None, refine_interpolation_max: bool = False, hessian_from=None) -> dict:
    """The reaction pipeline (:func:`jaxrxn.find_reaction`: geodesic band, CI-NEB, saddle
    search from the climbing image, frequencies, IRC; with `ts_guess` the saddle search,
    frequencies and IRC from the guess first, the band only if that does not verify) from
    the data set's end states, not relaxed again; success (``same_ts``) = its last
    first-order saddle is the data set's TS, verified by the IRC (``converged``) or not.
    ``n_force_calls_to_ts`` counts the CI-NEB's and the saddle searches' gradients
    (what a refinement from a guess replaces), ``n_force_calls`` every stage's;
    ``ts_source`` says where the verified saddle search started; `hessian_from` starts every
    saddle search from that potential's exact Hessian (``find_reaction``'s)."""
    from jaxrxn.reaction import find_reaction

    res = find_reaction(jnp.asarray(x_is), jnp.asarray(x_fs), pot, relax=False, ts_guess=ts_guess,
                        refine_interpolation_max=refine_interpolation_max, hessian_from=hessian_from)  # fmt: skip
    found = res.R_ts is not None and res.saddle_index == 1 and res.ts_energy is not None
    against = _against_data_ts(res.R_ts if found else None, res.ts_energy, x_ts, e_ts, pot.system.numbers)
    by_stage = res.n_force_calls_by_stage
    return {"converged": bool(res.converged), "same_ts": is_data_ts(against), "failed_stage": res.failed_stage, "ts_source": res.ts_source,
            **against,
            "n_force_calls_to_ts": int(by_stage.get("neb", 0) + by_stage.get("saddle", 0)),
            "n_force_calls": int(res.n_force_calls), "n_hessian_calls": int(res.n_hessian_calls)}  # fmt: skip


def peer_ts(r) -> dict:
    """The ASE + Sella pipeline (benchmarks/_ase_reaction.py: IDPP, ASE's CI-NEB with BFGS,
    Sella in internal coordinates from the climbing image, Sella's IRC both ways, ends
    compared as jaxrxn compares its own) from the same data-set end states, not relaxed
    again (their two energies counted, as ``find_reaction(relax=False)`` counts them);
    success (``same_ts``) = Sella converged to the data set's TS (it has no frequency
    stage), ``converged`` = its IRC connects the end states. Counts as :func:`pipeline_ts`."""
    from _ase_reaction import ase_pipeline, in_worker_thread

    x_ts, e_ts = stored_ts(r)
    res = in_worker_thread(ase_pipeline, np.asarray(r.numbers), np.asarray(r.reactant, float), np.asarray(r.product, float), relax=False)
    found = bool(res.get("saddle_converged")) and "R_ts" in res
    against = _against_data_ts(res["R_ts"] if found else None, res.get("ts_energy"), x_ts, e_ts, r.numbers)
    by_stage = res["n_force_calls_by_stage"]
    return {"converged": bool(res["connects"]), "same_ts": is_data_ts(against), "failed_stage": res["failed_stage"],
            **against,
            "n_force_calls_to_ts": int(by_stage.get("neb", 0) + by_stage.get("saddle", 0)),
            "n_force_calls": int(res["n_force_calls"]), "n_hessian_calls": 0, "seconds": round(res["seconds"], 1),
            **({"error": res["error"]} if "error" in res else {})}  # fmt: skip


def _against_data_ts(R_ts, ts_energy, x_ts, e_ts, numbers) -> dict:
    """Where a pipeline's saddle lies against the data set's TS: Kabsch RMSD (Å), the same
    also over the saddle's mirror image and renumberings of like atoms
    (:func:`jaxrxn.geometry.rmsd_up_to_symmetry`: the data set's TS as its enantiomer, or
    with its hydrogens numbered otherwise, is the same TS) and the energy difference (eV;
    negative: below it), ``None`` without a saddle. A verified saddle well below the data
    set's TS is a lower pass between the same end states (the data set's single-ended
    searches need not find the lowest one)."""
    from jaxrxn.geometry import rmsd_numpy, rmsd_up_to_symmetry

    if R_ts is None:
        return {"rmsd_to_data_ts": None, "rmsd_to_data_ts_up_to_symmetry": None, "ts_minus_data_ev": None}
    R_ts = np.asarray(R_ts)
    return {"rmsd_to_data_ts": rmsd_numpy(R_ts, x_ts), "rmsd_to_data_ts_up_to_symmetry": rmsd_up_to_symmetry(R_ts, x_ts, numbers),
            "ts_minus_data_ev": float(ts_energy) - e_ts}  # fmt: skip


def is_data_ts(record: dict, rmsd_key: str = "rmsd_to_data_ts") -> bool:
    """The saddle of a record of :func:`_against_data_ts` (a pipeline row, a mechanism's
    step) is the data set's TS: its `rmsd_key` distance (Kabsch, or up to symmetry) within
    ``SAME_TS_RMSD`` and its energy within ``SAME_TS_DE``."""
    return record.get(rmsd_key) is not None and record[rmsd_key] < SAME_TS_RMSD and abs(record["ts_minus_data_ev"]) < SAME_TS_DE


def same_ts_up_to_symmetry(p: dict) -> bool:
    """A pipeline row's saddle is the data set's TS, as such (``same_ts``) or as its mirror
    image or renumbered (``rmsd_to_data_ts_up_to_symmetry``; rows written before it
    existed have it only where ``--up-to-symmetry`` found it needed)."""
    return bool(p["same_ts"]) or is_data_ts(p, "rmsd_to_data_ts_up_to_symmetry")


def needs_symmetry_check(p: dict) -> bool:
    """A row written before ``rmsd_to_data_ts_up_to_symmetry`` whose saddle could be the
    data set's TS up to symmetry: found, within ``SAME_TS_DE`` of its energy, farther than
    ``SAME_TS_RMSD`` (a saddle nearer is ``same_ts`` already; one at another energy is
    another saddle whatever its numbering)."""
    return ("rmsd_to_data_ts_up_to_symmetry" not in p and p.get("rmsd_to_data_ts") is not None
            and p["rmsd_to_data_ts"] >= SAME_TS_RMSD and abs(p["ts_minus_data_ev"]) < SAME_TS_DE)  # fmt: skip


@eqx.filter_jit
def _saddle(pot, X, solver, mode0=None):
    from jaxrxn.saddle import saddle_search

    return saddle_search(pot, X, solver, fmax=0.01, max_steps=300, check_index=False, mode0=mode0)


def summarise(rows: list[dict]) -> dict:
    out = {"held_out_reactions": len(rows)}
    if not rows:
        return out
    names = ("generated", "linear midpoint", "IDPP max", "geodesic max", "geodesic midpoint", "nearest training reaction",
             "previous model")  # fmt: skip
    for name in names:
        if not all(name in r for r in rows):  # rows of an older run may lack a baseline
            continue
        d = np.array([r[name]["rmsd"] for r in rows])
        e = np.array([r[name]["abs_de_kcal"] for r in rows])
        out[name] = {"rmsd_median": float(np.median(d)), "rmsd_mean": float(np.mean(d)), "abs_de_kcal_median": float(np.median(e))}
    refined = [r for r in rows if "refined" in r["generated"]]
    if refined:
        for key, pick in (("generated", lambda r: r["generated"]), ("best interpolation", lambda r: r[r["best interpolation"]])):
            ok = [pick(r)["refined"]["same_ts"] for r in refined]
            calls = [pick(r)["refined"]["n_force_calls"] for r in refined if pick(r)["refined"]["same_ts"]]
            out[key + " refined"] = {"success": float(np.mean(ok)), "n_force_calls_median": float(np.median(calls)) if calls else None}
    for key in (*PIPELINES, "ASE + Sella pipeline"):
        piped = [r[key] for r in rows if key in r]
        if piped:
            calls = [p["n_force_calls_to_ts"] for p in piped if p["same_ts"]]
            out[key] = {"success": float(np.mean([p["same_ts"] for p in piped])),
                        "verified": float(np.mean([p["converged"] for p in piped])),
                        "verified_same_ts": float(np.mean([p["converged"] and p["same_ts"] for p in piped])),
                        "n_force_calls_to_ts_median": float(np.median(calls)) if calls else None,
                        "n_force_calls_total": int(sum(p["n_force_calls"] for p in piped))}  # fmt: skip
            if all("ts_minus_data_ev" in p for p in piped):  # rows of runs before session 25 lack it
                out[key]["verified_lower_saddle"] = int(sum(p["converged"] and not p["same_ts"] and p["ts_minus_data_ev"] is not None
                                                            and p["ts_minus_data_ev"] < -SAME_TS_DE for p in piped))  # fmt: skip
            if not any(needs_symmetry_check(p) for p in piped):  # rows before it was recorded: after --up-to-symmetry
                out[key]["verified_same_ts_up_to_symmetry"] = float(np.mean([p["converged"] and same_ts_up_to_symmetry(p) for p in piped]))
            if key in ("guided pipeline", THEN_MAX):
                out[key]["from_the_guess"] = int(sum(p.get("ts_source") == "guess" for p in piped))
            if key in (THEN_MAX, MAX_FIRST):
                out[key]["from_the_interpolation"] = int(sum(p.get("ts_source") == "interpolation" for p in piped))
    pairs = (("guided pipeline", "CI-NEB pipeline"), ("CI-NEB pipeline", "ASE + Sella pipeline"), ("guided pipeline", "ASE + Sella pipeline"),
             (THEN_MAX, "CI-NEB pipeline"), (THEN_MAX, "guided pipeline"), (THEN_MAX, MAX_FIRST), (MAX_FIRST, "CI-NEB pipeline"))  # fmt: skip
    for mine, other in pairs:  # paired: the reactions both pipelines solve, every gradient of each
        both = [r for r in rows if r.get(mine, {}).get("same_ts") and r.get(other, {}).get("same_ts")]
        if both:
            a, b = (sum(r[k]["n_force_calls"] for r in both) for k in (mine, other))
            out[f"{mine.removesuffix(' pipeline')} vs {other.removesuffix(' pipeline')} pipeline"] = {"reactions": len(both), "n_force_calls": [a, b], "ratio": a / b}
    return out


if __name__ == "__main__":
    main()
