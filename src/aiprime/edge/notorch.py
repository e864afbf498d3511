"""Run a module as on a device without torch: `python -m aiprime.edge.notorch MODULE [ARGS...]`.

Any import of `torch` (or a submodule) in that process raises ImportError, so a module that would load it,
even behind a try/except, cannot. The tests and bench/edge.py start the edge server this way.
"""

from __future__ import annotations

import runpy
import sys
from importlib.abc import MetaPathFinder


class NoTorch(MetaPathFinder):
    """A finder placed first on `sys.meta_path` that refuses torch."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked in this process (aiprime.edge.notorch): import {name}")


def main() -> None:
    """Block torch, then run `sys.argv[1]` as `__main__` with the remaining arguments."""
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m aiprime.edge.notorch MODULE [ARGS...]")
    sys.meta_path.insert(0, NoTorch())
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
