"""The README's Python examples run as shown, against a throwaway server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_blocks() -> List[str]:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_readme_has_examples() -> None:
    assert len(readme_blocks()) >= 2


def test_readme_examples_run_and_print_what_they_say(server: Any) -> None:
    for block in readme_blocks():
        code = block.replace("localhost:6379", server.address)
        setup = "import redigo_py\nredigo_py.dial('tcp', %r).do('FLUSHALL')\n" % server.address
        proc = subprocess.run([sys.executable, "-c", setup + code], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        # Every "# <output>" comment on a print line is what that line printed.
        expected = [m.group(1).strip() for m in re.finditer(r"print\(.*\)\s+# (.+)", block)]
        printed = proc.stdout.splitlines()
        for want in expected:
            assert want in printed, (want, printed)
