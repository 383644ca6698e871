"""Helpers shared by the generative-model benchmarks (flow_generator, flow_lj7,
diffusion_paths, ts_generator): a cached, seed-split reaction data set, a one-line
summary of a distribution, and the exit coverage of the unconditioned flow."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from jaxrxn.generative.data import ReactionPath, read_transition1x, split_seeds, write_transition1x


def cached_reactions(
    build: Callable[[Sequence[int]], list[ReactionPath]], n_train: int, n_test: int, cache: str
) -> tuple[list[ReactionPath], list[ReactionPath]]:
    """Train and test reactions from disjoint seeds (:func:`split_seeds`), built once by
    `build(seeds)` and kept in `cache` (Transition1x layout), read back on later runs."""
    if os.path.exists(cache):
        print(f"data from {cache}")
        return read_transition1x(cache, "train", "jaxrxn"), read_transition1x(cache, "test", "jaxrxn")
    tr, te = split_seeds(n_train, n_test)
    t0 = time.perf_counter()
    rtr, rte = build(tr), build(te)
    print(f"built {len(rtr)} train / {len(rte)} test reactions from {n_train} / {n_test} seeds "
          f"in {time.perf_counter() - t0:.1f} s ({build.__name__})")  # fmt: skip
    os.makedirs(os.path.dirname(cache) or ".", exist_ok=True)
    write_transition1x(cache, {"train": rtr, "test": rte})
    return rtr, rte


def stats(x, fmt: str = "8.4f") -> str:
    """``median ... mean ... p90 ...`` of `x`, or ``(none)`` for an empty sample."""
    x = np.asarray(x, float)
    if x.size == 0:
        return "(none)"
    return f"median {np.median(x):{fmt}}  mean {np.mean(x):{fmt}}  p90 {np.percentile(x, 90):{fmt}}"


def distinct(structures, distance: Callable, tol: float = 0.05) -> list:
    """The first of every group of `structures` closer than `tol` by `distance(a, b)`."""
    kept: list = []
    for r in structures:
        if all(distance(r, u) > tol for u in kept):
            kept.append(r)
    return kept


def report_coverage(R, valid, exits_per_is, distance: Callable, tol: float = 0.05) -> None:
    """Print how many reference exits the generated, relaxed products ``R`` ``(G, K, N,
    dim)`` (``valid`` ``(G, K)``) found per IS, and the distinct valid products per IS.
    `distance(batch, one)` broadcasts over the leading axis of its first argument."""
    found = sum(bool(np.any(valid[g] & (distance(R[g], e[None]) < tol))) for g, exits in enumerate(exits_per_is) for e in exits)
    n_ref = sum(len(exits) for exits in exits_per_is)
    counts = [len(distinct(R[g][valid[g]], distance, tol)) for g in range(len(exits_per_is))]
    print(f"coverage (reference exits found): {found}/{n_ref} = {found / max(n_ref, 1):.1%}; "
          f"distinct valid FS per IS: mean {np.mean(counts):.2f}")  # fmt: skip
