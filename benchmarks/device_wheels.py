"""Wheels of the pure-Python dependencies a bare GPU box lacks, for an offline install there.

The GPU box has torch, torchvision, timm, pandas, seaborn, rich, scipy and opencv-headless, but not
what ``bench.measure`` imports through fvcore and grad-cam. This script fetches (or, for sdist-only
packages, builds) one wheel per missing package for CPython 3.12 on x86-64 Linux, at the versions
installed here (the ones the test suite ran with), checks that each is pure Python or built for
cp312, and proves that they install with ``pip install --no-index --no-deps --target`` into an empty
folder. Run here, with a network:

    python benchmarks/device_wheels.py --out .device-wheels

and on the GPU box, without one (README, "The GPU path"):

    python -m pip install --no-index --no-deps --target /tmp/deps .device-wheels/*.whl
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, packages_distributions, requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
# what the GPU box has (with their own dependencies)
BOX = ("torch", "torchvision", "timm", "pandas", "seaborn", "rich", "scipy",
       "opencv-python-headless")  # fmt: skip
# every module of the check and of `bench run`/`bench report`, which it starts (ray: optional)
IMPORTS = """
import pkgutil, sys
sys.path.insert(0, "benchmarks")
import bench, device_check
for m in pkgutil.walk_packages(bench.__path__, "bench."):
    if m.name not in ("bench.__main__", "bench.execute.ray"):
        __import__(m.name)
print("\\n".join(sorted({m.split(".")[0] for m in sys.modules})))
"""

# what `import bench.execute.process` pulls in that the GPU box does not have: fvcore (+ iopath,
# yacs, termcolor, tabulate, portalocker) and grad-cam (+ ttach; scikit-learn, imported by
# pytorch_grad_cam/__init__ through svd_on_activations, + joblib, threadpoolctl, narwhals,
# cloudpickle); yacs is imported by fvcore's config only, but fvcore declares it
PACKAGES = (
    "fvcore",
    "iopath",
    "yacs",
    "termcolor",
    "tabulate",
    "portalocker",
    "grad-cam",
    "ttach",
    "scikit-learn",
    "joblib",
    "threadpoolctl",
    "narwhals",
    "cloudpickle",
)
TARGET = ("--python-version", "3.12", "--implementation", "cp", "--abi", "cp312")
# glibc 2.28 or newer (every current CUDA 12/13 image)
PLATFORM = tuple(
    arg
    for tag in ("manylinux_2_17", "manylinux_2_27", "manylinux_2_28")
    for arg in ("--platform", f"{tag}_x86_64")
)


def normalise(name: str) -> str:
    """A distribution name in PEP 503 form (``Scikit_Learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def box_closure(roots: tuple[str, ...] = BOX) -> set[str]:
    """``roots`` and every distribution they require, transitively, as installed here."""
    seen: set[str] = set()
    todo = [normalise(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in lines:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(normalise(req.name))
    return seen


def distributions_imported() -> set[str]:
    """The distributions whose modules the check and ``bench`` import (in a fresh interpreter)."""
    done = subprocess.run([sys.executable, "-c", IMPORTS], cwd=REPO, capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"importing the check failed: {done.stderr.strip()[-400:]}")
    owners = packages_distributions()
    found = {normalise(d) for top in done.stdout.split() for d in owners.get(top, [])}
    return found - {"attnbench"}  # this project: on the GPU box as the checkout itself


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pip`` with this interpreter, output captured."""
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def fetch(requirement: str, out: Path) -> None:
    """A binary wheel for cp312 from the index, else a wheel built here from the sdist.

    Raises:
        RuntimeError: neither worked (pip's last lines in the message).
    """
    got = pip("download", "--only-binary=:all:", "--no-deps", *TARGET, *PLATFORM, "-d", str(out),
              requirement)  # fmt: skip
    if got.returncode != 0:  # sdist only (fvcore, grad-cam): build it; it must come out pure
        got = pip("wheel", "--no-deps", "--no-binary=:all:", "-w", str(out), requirement)
    if got.returncode != 0:
        raise RuntimeError(f"{requirement}: {got.stderr.strip()[-400:]}")


def unfit(wheel: Path) -> str | None:
    """Why ``wheel`` cannot install on CPython 3.12 / x86-64 Linux, or None when it can."""
    _, _, _, tags = parse_wheel_filename(wheel.name)
    for tag in tags:
        pure = tag.interpreter in ("py3", "py312") and tag.abi == "none" and tag.platform == "any"
        native = tag.interpreter == "cp312" and tag.abi in ("cp312", "abi3")
        if pure or (native and "x86_64" in tag.platform):
            return None
    return f"{wheel.name}: neither py3-none-any nor cp312 x86-64"


def install_offline(wheels: list[Path]) -> None:
    """Install ``wheels`` with no index and no dependencies into an empty folder, for cp312.

    Raises:
        RuntimeError: pip refused (its last lines in the message).
    """
    with tempfile.TemporaryDirectory() as target:
        done = pip("install", "--no-index", "--no-deps", "--only-binary=:all:", *TARGET, *PLATFORM,
                   "--target", target, *map(str, wheels))  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"offline install failed: {done.stderr.strip()[-400:]}")


def build(out: Path, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    """Fetch or build the wheels of ``packages`` into ``out``, check them, install them offline.

    Returns:
        The wheel files, one per package.
    """
    out.mkdir(parents=True, exist_ok=True)
    missing = distributions_imported() - box_closure() - {normalise(p) for p in packages}
    if missing:
        raise RuntimeError(f"imported but neither on the GPU box nor in PACKAGES: {missing}")
    for name in packages:
        fetch(f"{name}=={version(name)}", out)
    wheels = sorted(out.glob("*.whl"))
    problems = [p for p in map(unfit, wheels) if p]
    if problems:
        raise RuntimeError("; ".join(problems))
    install_offline(wheels)
    return wheels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".device-wheels", help="folder for the wheels (ignored)")
    args = parser.parse_args(argv)
    wheels = build(Path(args.out))
    print("\n".join(w.name for w in wheels))
    print(f"{len(wheels)} wheels in {args.out}: all install offline for cp312")
    return 0


if __name__ == "__main__":
    sys.exit(main())
