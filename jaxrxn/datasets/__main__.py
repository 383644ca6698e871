"""``python -m jaxrxn.datasets [SMILES] -o DATA.h5 ...``: the data-set builder's command line
(the arguments of :mod:`jaxrxn.commands.build_dataset`), until it is registered as
``jaxrxn build-dataset``."""

import argparse
import sys


def main(argv=None) -> int:
    from jaxrxn.commands.build_dataset import EXAMPLE, add_arguments, run

    parser = argparse.ArgumentParser(
        prog="python -m jaxrxn.datasets", description=__doc__.split("\n\n")[0],
        epilog="example:\n" + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
