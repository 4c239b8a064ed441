"""Write the report of one study: its conventions, the seed-noise line, the summary table and the
accuracy plot (md and html; latex gets the conventions as its caption; csv and json the numbers)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.measure.latency import NOISY_SPREAD, REMEASURES
from bench.report import figures, recipe
from bench.report.document import bundled_grid, source_of
from bench.report.render import (
    FORMATS,
    frame_latex,
    summary_display,
    summary_markdown,
    target_clause,
)
from bench.report.tables import MIN_SEEDS_FOR_TEST, resolution, summary_table
from bench.report.webpage import html_figure, html_page, inline_markdown
from bench.spec import distinct_labels
from bench.store import read_records, records_frame

Figures = list[tuple[Path, str]]  # each PNG with its caption


def write_report(results: Path, reports: Path, study: str, fmt: str = "md") -> list[Path]:
    """Render ``study`` from its records into ``reports``; returns the files written."""
    if fmt not in FORMATS:
        raise BenchError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    records = read_records(results, study)
    frame = records_frame(records)
    if frame.empty:
        raise BenchError(f"no records for study {study!r} in {results}; run `bench run` first")
    table = summary_table(frame)
    reports.mkdir(parents=True, exist_ok=True)
    written = []
    if fmt in ("csv", "json"):
        path = reports / f"{study}.{fmt}"
        if fmt == "csv":
            table.to_csv(path, index=False)
        else:
            path.write_text(table.to_json(orient="records", indent=1))
        written.append(path)
    elif fmt == "latex":
        path = reports / f"{study}.tex"
        caption = " ".join(_header(frame, _target(study)))
        path.write_text(frame_latex(summary_display(table), caption, f"tab:{study}"))
        written.append(path)
    else:
        plots = _figures(reports, study, table, frame, records)
        path = reports / f"{study}.{fmt}"
        text = _markdown if fmt == "md" else _html
        paragraphs = _description(study) + _header(frame, _target(study)) + _progress(study, frame)
        path.write_text(text(study, frame, table, plots, paragraphs))
        written += [path, *(plot for plot, _ in plots)]
    return written


def _figures(
    reports: Path, study: str, table: pd.DataFrame, frame: pd.DataFrame, records: list[dict]
) -> Figures:
    """The study's plots that say something (``<study>_<kind>.png``), each with its caption."""
    points = figures.curve_points(table, frame, records)
    made = [
        (
            figures.accuracy(table, frame, reports / f"{study}_accuracy.png"),
            "Top-1 accuracy per configuration (left) and its paired difference from the "
            "baseline with the 95 % interval (right)",
        ),
        (
            figures.curves(table, points, reports / f"{study}_curves.png"),
            "Learning curves: val top-1 and train loss per epoch, mean ± std over seeds",
        ),
        (
            figures.sweep(table, frame, reports / f"{study}_sweep.png"),
            "Top-1 accuracy along the study's swept axis; dashed line = the baseline",
        ),
        (
            figures.cost_vs_accuracy(table, reports / f"{study}_cost.png"),
            "Top-1 accuracy vs cost, with the Pareto front",
        ),
    ]
    return [(plot, caption) for plot, caption in made if plot is not None]


def _description(study: str) -> list[str]:
    """The ``[study] description`` of the bundled grid that defines ``study``, if any."""
    source = source_of(study)
    return [source.description] if source is not None and source.description else []


def _markdown(
    study: str, frame: pd.DataFrame, table: pd.DataFrame, plots: Figures, paragraphs: list[str]
) -> str:
    lines = [f"# {study}", ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    lines += [summary_markdown(table), ""]
    lines += [f"![{caption}]({plot.name})\n\n*{caption}.*\n" for plot, caption in plots]
    if recipe.is_recipe_study(frame):
        candidates = recipe.candidate_display(recipe.candidate_table(frame))
        lines += ["## Candidate recipes", "", recipe.CAPTION, ""]
        lines += [candidates.to_markdown(index=False, disable_numparse=True), ""]
    return "\n".join(lines)


def _html(
    study: str, frame: pd.DataFrame, table: pd.DataFrame, plots: Figures, paragraphs: list[str]
) -> str:
    body = [f"<h1>{html.escape(study)}</h1>"]
    body += [f"<p>{inline_markdown(paragraph)}</p>" for paragraph in paragraphs]
    body.append(summary_display(table).to_html(index=False))
    body += [html_figure(plot, caption) for plot, caption in plots]
    if recipe.is_recipe_study(frame):
        candidates = recipe.candidate_display(recipe.candidate_table(frame))
        body += ["<h2>Candidate recipes</h2>", f"<p>{inline_markdown(recipe.CAPTION)}</p>"]
        body.append(candidates.to_html(index=False))
    return html_page(study, body)


def _header(frame: pd.DataFrame, target: float | None = None) -> list[str]:
    """The paragraphs above the table: conventions (data, metric, n, device, units), seed noise
    and, where the study states one, whether its target MDE was reached."""
    first = frame.iloc[0]
    devices = ", ".join(sorted(set(frame["device"].dropna()))) or "unknown device"
    return [
        f"Dataset `{first['dataset']}`, {_epochs(frame)} epochs. Accuracy: top-1/top-5 on "
        "the validation split at the last epoch (no model selection), in %, mean ± sample std over "
        "n seeds; "
        "failed or diverged runs are left out of the means and counted under *not done*. "
        f"Params in millions. Trained on: {devices}. GMACs: fvcore convention (one multiply-add "
        "= 1, elementwise ops not counted) at batch 1 and the run's input size. Latency: median "
        f"forward time at batch 1 on {_latency_conditions(frame)} and its IQR, of the steadiest "
        "timing among the configuration's seeds (smallest IQR relative to the median; a busy "
        f"machine slows a timing and widens its IQR); 'noisy', with no number, where every "
        f"timing's IQR exceeds {NOISY_SPREAD:.0%} of its median after {REMEASURES} "
        "re-measurements. sfd: the DAS saliency score (share of "
        "scaled Grad-CAM energy on the target mask, DAS paper's definition), and the pointing "
        "game (share of images whose Grad-CAM peak falls on the mask), mean ± sample std over "
        "seeds; — where not measured. "
        "Δ top-1: difference from the backbone's no-attention row. Runs with the same seed "
        "share the backbone's initial weights and batch order, so the difference is paired: "
        "the mean of seed-matched differences with its 95 % t interval, and ρ, the correlation "
        "of the two arms over the seeds (where seeds do not match, the difference of the means "
        f"alone). With n ≥ {MIN_SEEDS_FOR_TEST} seeds on both sides: p of Welch's unpaired "
        "two-sided t-test, of the paired t-test, and the paired p after Holm's adjustment over "
        "every comparison in the table. The verdict is the Holm-adjusted paired test's at "
        "p < 0.05 (better / worse / not resolved): among twelve comparisons of modules that "
        "change nothing, at least one unadjusted p < 0.05 turns up 46 % of the time.",
        _resolution_line(frame, target),
    ]


def _target(study: str) -> float | None:
    """The ``[study] target_mde`` of the study's bundled grid, if it states one."""
    found = bundled_grid(study)
    return None if found is None else found[1].study.target_mde


def _resolution_line(frame: pd.DataFrame, target: float | None = None) -> str:
    found = resolution(frame)
    if found["dof"] == 0:
        return "Seed noise: not measurable (no configuration has two finished seeds)."
    single = found["single"]
    untested = f" Not tested: {single} configuration(s) with one seed only." if single else ""
    paired = (
        ""
        if not found["dof_diff"]
        else f" Paired: the seed-matched differences from the baseline have a pooled std of "
        f"{found['std_diff']:.2f} points ({found['dof_diff']} dof; mean correlation of the arms "
        f"{found['corr']:+.2f}), so the paired test detects {found['paired_mde']:.2f} points at "
        f"n = {found['n']}."
    )
    return (
        f"Seed noise: pooled std of top-1 {found['std']:.2f} points ({found['dof']} dof). At "
        f"n = {found['n']} seeds per configuration, the smallest difference this study detects "
        f"with 80 % power at p < 0.05 (Welch's two-sided t-test) is {found['mde']:.2f} points; "
        f"smaller differences in the table are not resolved.{paired}{untested}"
        f"{target_clause(found, target)}"
    )


def _progress(study: str, frame: pd.DataFrame) -> list[str]:
    """What the finished runs cost, and which runs the study's bundled grid still asks for."""
    return [*_cost_line(frame), *_missing_line(study, frame)]


def _cost_line(frame: pd.DataFrame) -> list[str]:
    """Wall time of the runs, per training device, from each record's ``wall_seconds``."""
    if "wall_seconds" not in frame:
        return []  # records from before runs were timed
    timed = frame.dropna(subset=["wall_seconds"]).fillna({"device": "unknown device"})
    per_device = [
        f"{device} {runs['wall_seconds'].sum() / 60:.0f} min ({len(runs)} runs)"
        for device, runs in timed.groupby("device")
    ]
    return [
        f"Cost: {len(timed)} runs took {timed['wall_seconds'].sum() / 60:.0f} min of wall time "
        f"(training and measurement, each record's wall_seconds): {', '.join(per_device)}. A run "
        "that shared its machine with other work took longer than it would alone."
    ]


def _missing_line(study: str, frame: pd.DataFrame) -> list[str]:
    """The runs the study's bundled grid asks for that have no finished record, by configuration."""
    found = bundled_grid(study)
    if found is None:
        return []
    path, specs = found[0], found[1].specs
    done = set(frame.loc[frame["status"] == "done", "run_id"])
    labels = distinct_labels([s.label for s in specs], [s.canonical()["train"] for s in specs])
    seeds: dict[str, list[int]] = {}
    for spec, label in zip(specs, labels, strict=True):
        if spec.run_id not in done:
            seeds.setdefault(label, []).append(spec.seed)
    if not seeds:
        return [f"Complete: every one of the {len(specs)} runs of the grid has a finished record."]
    missing = "; ".join(
        f"{label} (seed{'s' * (len(s) > 1)} {', '.join(map(str, sorted(s)))})"
        for label, s in seeds.items()
    )
    count = sum(map(len, seeds.values()))
    return [
        f"Missing: {count} of the {len(specs)} runs of `{path.name}` have no finished "
        f"record: {missing}. `bench run --grid {path.stem}` runs only those."
    ]


def _latency_conditions(frame: pd.DataFrame) -> str:
    columns = ["latency_device_name", "latency_precision", "latency_threads"]
    if not set(columns) <= set(frame):
        return "the training device"
    seen = frame[columns].dropna().drop_duplicates()
    return "; ".join(f"{d} ({p}, {int(t)} threads)" for d, p, t in seen.itertuples(index=False))


def _epochs(frame: pd.DataFrame) -> str:
    """``2`` or, for a study of several recipes, ``1, 2, 4``."""
    return ", ".join(str(int(e)) for e in sorted(set(frame["epochs"].dropna())))
