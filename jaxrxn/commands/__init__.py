"""Subcommands of the ``jaxrxn`` command line (see :mod:`jaxrxn.cli`).

Each module defines ``add_arguments(parser)`` and ``run(args) -> int`` and imports JAX and
the library inside ``run``, so that ``jaxrxn COMMAND --help`` answers without loading them.
"""
