"""``BENCH_PLUGINS``: user modules that register extra attention modules or backbones.

Set ``BENCH_PLUGINS`` to a comma-separated list of importable module names, e.g.
``BENCH_PLUGINS=mylab.attention``. Each module is imported once, before a grid is read, by the
driver and by every worker (subprocess or Ray task), so whatever it registers can be named in a
grid::

    # mylab/attention.py
    from registry import ATTENTIONS

    @ATTENTIONS.register("my_gate", default_placement="block", spatial=False)
    class MyGate(nn.Module): ...

The variable is inherited by subprocess workers and forwarded to Ray tasks; the module itself must
be importable there (installed, or on ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib
import os

from bench.errors import BenchError

ENV = "BENCH_PLUGINS"


def plugin_names() -> list[str]:
    """The module names listed in ``BENCH_PLUGINS``."""
    return [name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Import every module of ``BENCH_PLUGINS`` (a no-op for one already imported)."""
    names = plugin_names()
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise BenchError(
                f"{ENV}: cannot import {name!r} ({err}); is it on PYTHONPATH?"
            ) from None
    return names
