"""The `basecaller` command line: one module per subcommand, discovered at start-up.

Each module in this package defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy libraries inside ``run`` so that
``basecaller --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from basecaller import __version__
from basecaller.errors import BasecallerError


def _subcommand_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="basecaller",
        description="Nanopore basecaller and recurrent sequence-modelling toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"basecaller {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module in _subcommand_modules():
        sub_parser = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    try:
        return int(args.run(args) or 0)
    except BasecallerError as error:
        print(f"basecaller {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"basecaller {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
