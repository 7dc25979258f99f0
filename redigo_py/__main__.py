"""``python -m redigo_py demo``: the leaderboard demo, which lives with the source.

The demo and the throwaway servers it starts are the repository's harness
(``harness/``), not part of the library, so the wheel does not ship them.
From a clone this runs them (``make demo`` does the same); from an
installed wheel it says where they are.
"""

import importlib
import sys


def main() -> int:
    try:
        demo = importlib.import_module("harness.demo")
    except ImportError:
        print("redigo_py: the demo ships with the source repository, not with the package: "
              "run `make demo` (or `python -m redigo_py demo`) in a clone", file=sys.stderr)
        return 2
    return int(demo.main())


if __name__ == "__main__":
    sys.exit(main())
