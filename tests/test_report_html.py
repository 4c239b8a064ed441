"""The html reports (a paper's, a study's) are self-contained files; headless Chromium renders them
with their plots."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from bench.report.document import write_paper_report
from bench.report.study import write_report
from tests.conftest import golden_record, write_golden

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _write_records(results: Path) -> None:
    records = []
    for seed in (0, 1):
        curves = [
            {"epoch": e, "train_top1_pct": 40.0 + 10 * e + seed, "val_top1_pct": 35.0 + 9 * e}
            for e in (1, 2, 3)
        ]
        for attention, acc in (("none", 60.0), ("se", 70.0), ("cbam", 72.0)):
            records.append(
                golden_record(
                    "h",
                    attention,
                    seed,
                    acc + seed,
                    backbone="resnet50_cifar",
                    dataset="cifar10",
                    train={"lr": 0.001},
                    extra={"curves": curves, "gmacs_paper": 1.3},
                )
            )
    write_golden(results, records)


def _write(kind: str, results: Path, reports: Path, fmt: str) -> list[Path]:
    if kind == "study":
        return write_report(results, reports, "h", fmt)
    return write_paper_report(results, reports, "seed000", fmt, studies=["h"])


@pytest.fixture(params=["paper", "study"])
def html_report(tmp_path, request) -> Path:
    _write_records(tmp_path / "results")
    return _write(request.param, tmp_path / "results", tmp_path / "reports", "html")[0]


@pytest.mark.parametrize("kind", ["paper", "study"])
def test_regenerating_a_report_rewrites_the_same_plot_bytes(tmp_path, kind):
    """Committed reports are regenerated, so a re-run on the same records must not change a file:
    the plots draw nothing at random (no bootstrap CI, no jitter)."""
    _write_records(tmp_path / "results")
    first, second = tmp_path / "a", tmp_path / "b"
    _write(kind, tmp_path / "results", first, "md")
    _write(kind, tmp_path / "results", second, "md")
    plots = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert plots, "the report wrote no plot"
    for plot in plots:
        assert (first / plot).read_bytes() == (second / plot).read_bytes(), plot


def test_html_is_self_contained(html_report):
    text = html_report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert len(re.findall(r'src="data:image/png;base64,', text)) >= 1  # plots embedded
    assert not re.search(r'src="(?!data:)', text)  # no external files
    if "<h1>h</h1>" in text:  # the study report: title, conventions, seed noise, n, device
        assert "mean ± sample std over n seeds" in text and "Seed noise" in text
        assert "test cpu" in text and "<th>n</th>" in text
    else:
        assert "75.85" in text and "—" in text  # a published cell and the missing SE-Adam row


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian `chromium` is not installed (apt-get install -y chromium)"
)
def test_html_renders_in_headless_chromium(html_report, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1400,2400",
            html_report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG"
    # a rendered page with tables and plots is far from blank: many distinct colours
    page = Image.open(shot).convert("RGB")
    assert len(page.resize((280, 480)).getcolors(maxcolors=1 << 20)) > 50
    # nothing runs past the window's right edge: the last columns are the page's background
    edge = page.crop((page.width - 8, 0, page.width, page.height))
    assert edge.getcolors() == [(edge.width * edge.height, (255, 255, 255))]


def test_every_figure_keeps_its_labels_inside(html_report):
    """An embedded plot's outermost pixels are background: no axis label or tick is clipped."""
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html_report.read_text()):
        image = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
        width, height = image.size
        for box in ((0, 0, width, 2), (0, height - 2, width, height), (0, 0, 2, height)):
            strip = image.crop(box)
            assert strip.getcolors() == [(strip.width * strip.height, (255, 255, 255))], box
        strip = image.crop((width - 2, 0, width, height))
        assert strip.getcolors() == [(strip.width * strip.height, (255, 255, 255))]


def test_captions_are_rendered_markdown(html_report):
    text = html_report.read_text()
    assert "`" not in text  # `code` became <code>
    if "<h1>h</h1>" in text:  # the study report names its dataset as code
        assert "Dataset <code>cifar10</code>" in text
