"""``report.html``: the QC report as one self-contained page a data team reads in a browser.

The page needs nothing but itself and the audio files: pictures are embedded as ``data:`` URIs,
the style and the few lines of script that sort the table are inline, and each row's audio
player points at the utterance's file by a path relative to the report folder (so the page keeps
working when the report and the corpus are moved together). Nothing is fetched from a network.

The table lists the most suspicious rows (``summary["suspicious"]``); clicking a column heading
sorts by it (numbers as numbers, empty cells last), clicking again reverses the order.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmzoo.qc.calibration import calibration_sentence
from mmzoo.qc.ranking import ranking_rows, ranking_sentence

__all__ = ["PAGE", "PICTURES", "render_page"]

PAGE = "report.html"
#: The pictures a summary may name (``summary["files"][key]``), in the order they are shown.
PICTURES: tuple[str, ...] = ("confusion", "pr", "reliability", "scores")

_STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:80em}
table{border-collapse:collapse;margin:0.5em 0}
td,th{border:1px solid #999;padding:3px 8px;text-align:left;vertical-align:middle}
th.sortable{cursor:pointer;background:#eee}
th.sortable:hover{background:#ddd}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
img{max-width:100%}
audio{height:2em}
""".strip()

# Sorts a table's body by the clicked column: numbers numerically, text alphabetically, empty last.
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th.sortable").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) { return row.cells[column].getAttribute("data-value"); }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
""".strip()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'<td data-value="{html.escape(text)}">{html.escape(text)}</td>'


def _audio_cell(audio: Any, directory: Path) -> str:
    """A player for the row's audio file, linked relative to the report folder."""
    if not audio:
        return '<td data-value=""></td>'
    path = Path(str(audio))
    link = os.path.relpath(path, directory) if path.is_absolute() else str(path)
    href = html.escape(Path(link).as_posix(), quote=True)
    name = html.escape(path.name)
    return (
        f'<td data-value="{html.escape(str(audio))}"><audio controls preload="none" src="{href}"></audio>'
        f' <a href="{href}">{name}</a></td>'
    )


def _suspicious_table(rows: Sequence[Mapping[str, Any]], fields: Sequence[str], directory: Path) -> str:
    head = "".join(f'<th class="sortable" scope="col">{html.escape(name)}</th>' for name in fields)
    body = []
    for row in rows:
        cells = [_audio_cell(row.get(name), directory) if name == "audio" else _cell(row.get(name)) for name in fields]
        body.append(f'<tr data-id="{html.escape(str(row.get("id")))}">' + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable" id="suspicious"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _picture(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(title)}"></figure>'


def render_page(summary: Mapping[str, Any], directory: Path, fields: Sequence[str]) -> str:
    """The HTML of ``report.html`` for a summary written into ``directory``.

    Args:
        summary: what :func:`mmzoo.qc.report.write_summary` returns.
        directory: the report folder (its pictures are embedded; audio links are relative to it).
        fields: the columns of the most-suspicious table.
    """
    directory = Path(directory)
    parts = [f"<p>{summary['total']} utterances.</p>"]
    truth = summary["true_counts"] or {}
    counts = [[name, n, truth.get(name)] for name, n in summary["counts"].items()]
    counts += [[name, 0, n] for name, n in truth.items() if name not in summary["counts"]]
    parts += ["<h2>Labels</h2>", _plain_table(["label", "predicted", "true"], counts)]
    metrics = summary["metrics"]
    parts.append("<h2>Metrics</h2>")
    if metrics is None:
        parts.append(f"<p>{html.escape(summary['note'] or '')}</p>")
    else:
        text = f"accuracy {metrics['accuracy']}, macro-F1 {metrics['macro_f1']} over {metrics['rows']} labelled rows"
        if metrics.get("mismatch_recall") is not None:
            text += f", mismatch recall {metrics['mismatch_recall']}"
        per_label = [[name, v["precision"], v["recall"], v["f1"]] for name, v in metrics["per_label"].items()]
        parts += [f"<p>{html.escape(text)}</p>", _plain_table(["label", "precision", "recall", "F1"], per_label)]
    ranking = summary.get("ranking")
    if ranking:
        parts += [
            "<h2>Ranking</h2>",
            f"<p>{html.escape(ranking_sentence(ranking))}</p>",
            _plain_table(*ranking_rows(ranking)),
        ]
    if summary.get("calibration"):
        parts += ["<h2>Calibration</h2>", f"<p>{html.escape(calibration_sentence(summary['calibration']))}</p>"]
    if summary.get("notes"):
        parts += ["<h2>Notes</h2>", *(f"<p>{html.escape(note)}</p>" for note in summary["notes"])]
    pictures = [summary["files"][key] for key in PICTURES if summary["files"].get(key)]
    found = [(directory / name, name) for name in pictures if (directory / name).is_file()]
    if found:
        parts += ["<h2>Pictures</h2>", *(_picture(path, name) for path, name in found)]
    parts += [
        "<h2>Most suspicious</h2>",
        "<p>Click a column heading to sort by it.</p>",
        _suspicious_table(summary["suspicious"], fields, directory),
        "<h2>Files</h2>",
        "<p>" + ", ".join(f'<a href="{html.escape(n)}">{html.escape(n)}</a>' for n in summary["files"]["data"]) + "</p>",
    ]
    head = f'<meta charset="utf-8"><title>QC report</title><style>{_STYLE}</style>'
    body = "\n".join(parts)
    return (
        f"<!doctype html>\n<html lang=\"en\"><head>{head}</head><body>\n<h1>QC report</h1>\n{body}\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )
