"""The ``bench`` command line: its subcommands, flags and argument types (``bench.cli`` runs them).

Flag types reject bad values in argparse itself, so a bad flag is one line and exit status 2 before
anything is imported or run.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

DESCRIPTION = "The ``bench`` command: list | describe | plan | run | cam | report | check."


class _Parser(argparse.ArgumentParser):
    """argparse with the house error format: one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"bench: error: {message} (see `{self.prog} --help`)\n")


def _folder(text: str) -> str:
    """An argparse ``type``: a folder path, never the empty string (which would mean the current
    folder, where a run would scatter its records)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a folder, e.g. results")
    return text


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse ``type``: a number of ``kind`` above zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"{text} must be positive (> 0) and finite")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``bench`` argument parser; each subcommand sets ``command`` to its name."""
    parser = _Parser(prog="bench", description=DESCRIPTION)
    sub = parser.add_subparsers(required=True, metavar="command")

    p = sub.add_parser("list", help="backbones, attention modules, placements, datasets, grids")
    p.set_defaults(command="list")

    p = sub.add_parser("describe", help="build a model as trained and print its size")
    p.add_argument("--backbone", default=None, help="describe this backbone (+ --attention)")
    p.add_argument("--grid", default=None, help="or: every architecture of a grid, as trained")
    p.add_argument("--run", default=None, metavar="RUN_ID", help="or: the model of a stored run")
    p.add_argument(
        "--results", type=_folder, default="results", help="with --run: the records folder"
    )
    p.add_argument("--data-root", default=None, help="with --grid: overrides its [data] root")
    p.add_argument("--attention", default="none")
    p.add_argument("--placement", default=None, help="default: the module's own")
    p.add_argument("--stages", default=None, help="e.g. 3,4 (default: the module's own)")
    p.add_argument(
        "--hparam",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an attention hyper-parameter, e.g. reduction=8 (repeatable; unset = default)",
    )
    p.add_argument(
        "--num-classes", type=_positive(int), default=None, help="default: the backbone's own"
    )
    p.add_argument(
        "--image-size", type=_positive(int), default=None, help="default: the backbone's own"
    )
    p.add_argument("--in-chans", type=_positive(int), default=3, help="1 for grey images")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(command="describe")

    p = sub.add_parser("plan", help="seeds a grid needs, from its recipe's measured noise")
    p.add_argument("--grid", required=True, help="TOML file or bundled grid name")
    p.add_argument(
        "--results", type=_folder, default="results", help="records to read the noise from"
    )
    p.add_argument(
        "--target-mde", type=_positive(float), default=None, help="points of top-1 to resolve"
    )
    p.add_argument(
        "--hours", type=_positive(float), default=None, help="budget per configuration (arm)"
    )
    p.add_argument(
        "--conditions", default="cpu fp32", help="device class and precision to plan for"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(command="plan")

    p = sub.add_parser("run", help="train every run of a grid")
    p.add_argument(
        "--grid", default="quick", help="TOML file or bundled grid name (default: quick)"
    )
    p.add_argument(
        "--results", type=_folder, default="results", help="records folder (default: results)"
    )
    p.add_argument("--data-root", default=None, help="overrides the grid's [data] root")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--retry-failed", action="store_true", help="also re-run runs that failed")
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="run a grid of more than 5,000 cells (without it, such a grid is refused)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the runs (to run, finished, rejected) and a time estimate; train nothing",
    )
    p.add_argument(
        "--executor",
        default="auto",
        choices=("auto", "inline", "process", "ray"),
        help="auto (default): inline on CPU, process on GPU; see docs/scaling.md",
    )
    p.add_argument(
        "--workers",
        type=_positive(int),
        default=None,
        help="process: concurrent runs (GPUs x --per-gpu, or 1)",
    )
    p.add_argument(
        "--per-gpu", type=_positive(int), default=1, help="process: runs sharing one GPU (1)"
    )
    p.add_argument("--address", default=None, help="ray: auto | HOST:PORT (default: local Ray)")
    p.add_argument(
        "--gpus-per-run",
        type=_positive(float),
        default=None,
        help="ray: GPUs per run, e.g. 0.25 (1 with GPUs)",
    )
    p.set_defaults(command="run")

    p = sub.add_parser("cam", help="Grad-CAM grid figure of a study (from stored records)")
    p.add_argument("--study", required=True)
    p.add_argument(
        "--images", type=_positive(int), default=8, help="rows (at most the maps each run stored)"
    )
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the sfd layer)")
    p.add_argument("--results", type=_folder, default="results")
    p.add_argument("--reports", type=_folder, default="reports")
    p.add_argument("--out", default=None, help="PNG path (default: <reports>/<study>_cam.png)")
    p.add_argument("--data-root", default=None, help="where a non-synthetic dataset lives")
    p.set_defaults(command="cam")

    p = sub.add_parser("report", help="tables and plots from stored records")
    p.add_argument(
        "--study",
        action="append",
        default=None,
        help="default: every study in --results; with --paper, repeat it to combine studies",
    )
    p.add_argument(
        "--paper",
        default=None,
        help="render this paper's tables (se, cbam, bam, das, triplet, seed000, seed002) from the "
        "grids that name it, or from --study; default: detected from each study's grid",
    )
    p.add_argument("--table", default=None, help="with --paper: only this table (e.g. table10)")
    p.add_argument("--format", default="md", help="md (default), csv, latex, html or json")
    p.add_argument("--results", type=_folder, default="results")
    p.add_argument("--reports", type=_folder, default="reports")
    p.set_defaults(command="report")

    p = sub.add_parser("check", help="accuracy regression gate against a baseline")
    p.add_argument("--baseline", default="results/baselines/quick.json")
    p.add_argument("--results", type=_folder, default="results")
    p.add_argument(
        "--tolerance",
        type=_positive(float),
        default=None,
        help="accuracy points (default: the baseline's calibrated tolerance)",
    )
    p.add_argument(
        "--update", action="store_true", help="write the baseline from the current records"
    )
    p.add_argument("--study", default=None, help="with --update: the study to record")
    p.add_argument(
        "--calibration",
        default=None,
        help="with --update: study whose pooled seed std sets the tolerance (default: --study)",
    )
    p.add_argument(
        "--k",
        type=_positive(float),
        default=None,
        help="with --update: tolerance = k x seed std x sqrt(2/n) (default: bench.check.DEFAULT_K)",
    )
    p.set_defaults(command="check")
    return parser
