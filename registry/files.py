"""The registry's data files: the grids that enumerate studies of its models (``grids/*.toml``) and
the published tables those studies are compared with (``papers/*.toml``). Read by ``bench``; no
code of the registry reads them."""

from pathlib import Path

GRIDS = Path(__file__).parent / "grids"
PAPERS = Path(__file__).parent / "papers"
