"""``python -m harness demo [--otel] [--asyncio] [--cluster] ...``: see :mod:`harness.demo`."""

import sys

from .demo import main

sys.exit(main())
