"""The ``ember`` command line (also ``python -m ember``): ``ember demo [--epochs N] [--out DIR]`` and
``ember run -n N script.py [args ...]`` (see ember.distributed.launch)."""

from __future__ import annotations

import sys

_USAGE = """usage: ember <command> [options]

commands:
  demo    train a small CNN on the 8x8 digits with the full trainer stack
          (ember demo --help for its options)
  run     run a script on N processes under MPI: ember run -n 4 train.py [args ...]
          (ember run --help for its options; needs `pip install ember[mpi]`)
"""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_USAGE, end="")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        from ember.demo import main as demo_main

        return demo_main(rest)
    if cmd == "run":
        from ember.distributed.launch import main as run_main

        return run_main(rest)
    print(f"ember: unknown command {cmd!r}\n\n{_USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
