"""Helpers shared by the generative-model benchmarks (flow_generator, flow_lj7,
diffusion_paths, ts_generator): a cached, seed-split reaction data set and a one-line
summary of a distribution."""

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
