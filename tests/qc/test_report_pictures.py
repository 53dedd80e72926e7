"""The pictures of the QC report (mmzoo/qc/report.py): titles on every panel, no empty panels."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest

from mmzoo.qc.report import ReportConfig, _confusion_figure, _scores_figure, write_summary

LABELS = ["ok", "noisy", "mismatch"]


@pytest.fixture(autouse=True)
def _agg_backend() -> None:
    matplotlib.use("Agg")  # as write_summary does: no display needed


def _rows(match: bool) -> list[dict]:
    rows = []
    for i, label in enumerate(["ok", "noisy", "noisy", "mismatch", "ok"]):
        rows.append({"label": label, "suspicion": 0.1 * (i + 1), "match_score": 0.9 - 0.1 * i if match else None})
    return rows


def _titled(axes) -> None:
    assert axes.get_title() and axes.get_xlabel() and axes.get_ylabel()


@pytest.mark.parametrize(("match", "panels"), [(True, 2), (False, 1)])
def test_scores_figure_draws_only_panels_with_values_and_titles_them(match: bool, panels: int) -> None:
    figure = _scores_figure(_rows(match), LABELS)
    try:
        assert len(figure.axes) == panels
        assert figure.get_suptitle() == "QC scores of 5 utterances"
        for axes in figure.axes:
            _titled(axes)
            assert axes.patches  # bars were drawn
            assert not [text for text in axes.texts if "no " in text.get_text()]
        assert [axes.get_title() for axes in figure.axes][0].startswith("suspicion")
    finally:
        plt.close(figure)


def test_scores_figure_without_any_values_keeps_one_titled_panel() -> None:
    figure = _scores_figure([], LABELS)
    try:
        assert len(figure.axes) == 1
        _titled(figure.axes[0])
        assert any("no scored utterances" in text.get_text() for text in figure.axes[0].texts)
    finally:
        plt.close(figure)


def test_confusion_figure_has_titles() -> None:
    figure = _confusion_figure([("ok", "ok"), ("noisy", "ok")], ["ok", "noisy"])
    try:
        (axes,) = figure.axes
        _titled(axes)
        assert "2 labelled rows" in axes.get_title()
    finally:
        plt.close(figure)


def test_summary_notes_and_extra_files_reach_the_pages(tmp_path) -> None:
    (tmp_path / "report.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "rules.txt").write_text("|--- class: ok\n", encoding="utf-8")
    config = ReportConfig(labels=LABELS, match_head=None, ctc_head=None, snr_head=None)
    summary = write_summary(tmp_path, config, notes=["the baseline never predicts mismatch"], files=["rules.txt"])
    assert summary["notes"] == ["the baseline never predicts mismatch"]
    assert "rules.txt" in summary["files"]["data"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Notes</h2>" in page and "never predicts mismatch" in page and 'href="rules.txt"' in page
    assert "## Notes" in (tmp_path / "summary.md").read_text(encoding="utf-8")
