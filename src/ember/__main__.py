"""The ``ember`` command line: ``ember demo [--epochs N] [--out DIR]`` (also ``python -m ember``)."""

from __future__ import annotations

import sys

_USAGE = """usage: ember <command> [options]

commands:
  demo    train a small CNN on the 8x8 digits with the full trainer stack
          (ember demo --help for its options)
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
    print(f"ember: unknown command {cmd!r}\n\n{_USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
