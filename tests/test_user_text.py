"""Text a newcomer reads: `bench list` descriptions, grid descriptions, paper titles, the README's
grid example. Internal shorthand (seed-document numbers, audit names, issue numbers) stays out."""

from __future__ import annotations

import re
import tomllib

import pytest

import registry
from bench.data import DATASETS
from bench.grid import load_grid
from bench.report.papers import load_paper
from registry import GRIDS
from registry.core import docstring_summary
from tests.conftest import REPO

JARGON = re.compile(r"seed[ -]?00\d|pre-audit|issue \d", re.IGNORECASE)
REGISTRIES = (registry.BACKBONES, registry.ATTENTIONS, registry.PLACEMENTS, DATASETS)


def test_docstring_summary_is_the_first_sentence_without_markup():
    doc = """``A^T v`` with ``A = softmax(q k^T)``, replacing
    the input (see :class:`Foo`, e.g. *this*). Second sentence.

    Details."""
    assert docstring_summary(doc) == (
        "A^T v with A = softmax(q k^T), replacing the input (see Foo, e.g. this)."
    )
    assert docstring_summary("x * gamma + y") == "x * gamma + y"


@pytest.mark.parametrize("reg", REGISTRIES, ids=lambda r: r.kind)
def test_list_descriptions_show_no_markup_and_no_jargon(reg):
    for name in reg.names():
        text = reg.describe(name)
        assert "`" not in text and not JARGON.search(text), (name, text)
        assert text.count("(") == text.count(")"), (name, text)  # not cut mid-sentence


def test_grid_descriptions_and_paper_titles_name_studies_not_seed_numbers():
    for path in sorted(GRIDS.glob("*.toml")):
        description = load_grid(path).study.description
        assert not JARGON.search(description), (path.name, description)
    for key in ("seed000", "seed002"):
        paper = load_paper(key)
        assert not JARGON.search(paper.title + paper.citation), paper.title


def test_the_readme_grid_example_is_the_file_it_names():
    readme = (REPO / "README.md").read_text()
    block = readme.split("## The grid format", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    named = re.search(r"registry/grids/\S+\.toml", block).group(0)
    assert tomllib.loads(block) == tomllib.loads((REPO / named).read_text())
