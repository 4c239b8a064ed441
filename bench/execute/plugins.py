"""Plugins: user modules that register extra attention modules or backbones, and the code a run's
model was built from.

A grid names its plugins in ``[study] plugins = ["mylab.attention"]``; ``BENCH_PLUGINS`` (a
comma-separated list of importable module names) adds plugins for every command. Each module is
imported once, before a grid is expanded, so whatever it registers can be named in a grid::

    # mylab/attention.py
    from registry import ATTENTIONS

    @ATTENTIONS.register("my_gate", default_placement="block", spatial=False)
    class MyGate(nn.Module): ...

The module must be importable wherever runs execute (installed, or its folder on ``PYTHONPATH``).

A run built from a plugin's entry carries that entry's import path and the SHA-256 of its module's
source file in its spec (``RunSpec.code``), so the run id changes with the plugin's code: a run of
an edited module is never taken for finished. Every executor imports the modules a spec names and
checks their source before it builds the model (``check_code``). Built-in entries (``registry.*``)
carry nothing: the record's environment holds the project commit.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

import registry
from bench.errors import BenchError
from registry.core import Registry

ENV = "BENCH_PLUGINS"
BUILT_IN = "registry."  # entries defined under this package are the project's own
Code = tuple[tuple[str, str, str], ...]  # (role, "module:qualname", source sha256) per entry


def plugin_names() -> list[str]:
    """The module names listed in ``BENCH_PLUGINS``."""
    return [name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Import every module of ``BENCH_PLUGINS`` (a no-op for one already imported)."""
    names = plugin_names()
    import_plugins(names, ENV)
    return names


def import_plugins(names: Iterable[str], where: str) -> None:
    """Import each module of ``names``; any failure is one ``BenchError`` that names ``where``
    the plugin was listed, the module, and the problem (with its file and line)."""
    for name in names:
        try:
            importlib.import_module(name)
            registry.check_constructors()  # a hyper-parameter without a default, at once
        except ModuleNotFoundError as err:
            raise BenchError(
                f"{where}: cannot import plugin {name!r} ({err}); put its folder on PYTHONPATH "
                "or pip install it"
            ) from None
        except (Exception, SystemExit) as err:  # its own error or sys.exit(): one line
            raise BenchError(f"{where}: plugin {name!r}: {_one_line(err)}") from None


def _one_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, SystemExit):
        text = f"it calls sys.exit({err.code!r}) on import; a plugin must only register"
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, SyntaxError):
        return f"{text} ({err.filename}:{err.lineno})"
    return f"{text} ({frames[-1].filename}:{frames[-1].lineno})" if frames else text


def entry_code(reg: Registry, name: str) -> tuple[str, str] | None:
    """``(module:qualname, sha256 of the module's source)`` of a plugin's entry; ``None`` for a
    built-in one.

    Raises:
        BenchError: the entry's module has no source file to hash (defined in ``__main__`` or a
            notebook).
    """
    origin = reg.origin(name)
    if origin.startswith(BUILT_IN):
        return None
    module = sys.modules.get(origin.partition(":")[0])
    source = getattr(module, "__file__", None)
    if not source or not Path(source).is_file():
        raise BenchError(
            f"{reg.kind} {name!r} is defined in {origin} without a source file; put it in an "
            "importable module (a record must say which code built its model)"
        )
    return origin, hashlib.sha256(Path(source).read_bytes()).hexdigest()


def spec_code(backbone: str, attention: str) -> Code:
    """The plugin code a cell's model is built from (empty for built-in entries only)."""
    code = []
    for role, reg, name in (
        ("backbone", registry.BACKBONES, backbone),
        ("attention", registry.ATTENTIONS, attention),
    ):
        found = entry_code(reg, name)
        if found is not None:
            code.append((role, *found))
    return tuple(code)


def check_code(backbone: str, attention: str, code: Code) -> None:
    """Import the plugin modules ``code`` names and check that their source is still the one
    ``code`` hashed.

    Raises:
        BenchError: a plugin cannot be imported, or its source changed since the grid was read.
    """
    import_plugins((origin.partition(":")[0] for _, origin, _ in code), "the run's spec")
    current = spec_code(backbone, attention)
    if current != code:
        changed = ", ".join(origin for _, origin, _ in code) or "the model's entries"
        raise BenchError(
            f"{changed} changed since the grid was read (its source hash differs); run the same "
            "`bench run` again to train the current code"
        )
