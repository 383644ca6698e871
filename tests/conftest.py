"""Test configuration: float64 everywhere (saddle work needs it), as optimistix's tests do."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
