"""Subcommands of the ``jaxrxn`` command line (see :mod:`jaxrxn.cli`)."""
