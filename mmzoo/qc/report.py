"""The QC report of a speech quality inspection run: one JSON line per utterance, then a summary page.

:class:`QCReportWriter` turns the rows of ``MultimodalModule.predict_step`` into report rows
(:func:`report_row`) and appends them to ``report.jsonl`` batch by batch, so a killed run keeps
everything but its last batch and can resume (:func:`repair_report`). When prediction ends,
:func:`write_summary` adds ``report.csv``, ``summary.json``, ``summary.md``, ``report.html`` (a
self-contained page: :mod:`mmzoo.qc.page`) and the pictures ``scores.png`` and (when true labels
are known) ``confusion.png`` in the same folder.

Row rules:

``suspicion``
    ``1 - P(ok)``: the quality head's probability that the row is unusable, calibrated when the
    recipe's ``cross_entropy`` objective has ``calibrate: true`` (the head's temperature, fitted on
    the validation split, is applied before the softmax). Without an ``ok`` label it is
    ``1 - max(probs)`` (low confidence is suspicious). ``1.0`` for unreadable rows.
``margin``
    The same belief as log-odds, ``log P(not ok) - log P(ok)`` from the head's logits (without an
    ``ok`` label: ``log P(rest) - log P(top class)``). It orders rows whose rounded suspicion ties
    (many sit at 1.0): the report ranks by suspicion, then margin.
``asr_text``, ``cer``
    The CTC transcript and its character error rate against the given transcript, shown only when
    the ASR head's character error rate on the validation split (``asr_metric``, saved with the
    checkpoint) is at most ``asr_cer_bar``; otherwise both are empty and the summary says why.
    Both texts are normalized first: lowercased, characters outside the alphabet dropped (not with
    a tokenizer, which has no alphabet), runs of whitespace collapsed to one space and stripped. An
    empty normalized reference gives ``0.0`` for an empty transcript and ``1.0`` otherwise.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.contracts import CalibratedHead
from mmzoo.data.fields import TranscriptText
from mmzoo.ops.text import DEFAULT_ALPHABET
from mmzoo.predictions import JsonlPredictionWriter, read_jsonl, repair_jsonl
from mmzoo.qc.calibration import calibration_quality, calibration_sentence, reliability_figure
from mmzoo.qc.findings import finding
from mmzoo.qc.page import PAGE, PICTURES, render_page
from mmzoo.qc.ranking import pr_figure, rank_key, ranking_quality, ranking_rows, ranking_sentence

__all__ = [
    "AsrGate",
    "QCReportWriter",
    "ReportConfig",
    "read_report",
    "repair_report",
    "report_row",
    "unreadable_row",
    "write_summary",
]

UNREADABLE = "unreadable"
REPORT = "report.jsonl"
COLUMNS = ["id", "audio", "text", "label", "true_label", "suspicion", "margin", "match_score", "asr_text", "cer"]
COLUMNS += ["snr_db_pred", "finding"]
SUSPICIOUS_FIELDS = ["id", "audio", "label", "suspicion", "margin", "match_score", "cer", "finding"]


@dataclass
class ReportConfig:
    """How prediction rows become report rows.

    Args:
        labels: quality class names in index order.
        quality_head: the quality classification head.
        match_head: the 2-class head whose class 1 means "the transcript matches the audio".
        ctc_head: the CTC transcript head.
        snr_head: a regression head predicting the SNR in dB.
        alphabet: characters of CTC ids ``1..V``.
        tokenizer: instead of ``alphabet``: the transcript tokenizer (CTC ids are its ids plus one).
        suspicious: how many of the most suspicious rows the summary lists.
        asr_metric: the validation metric holding the CER of ``ctc_head``'s transcripts (the
            ``cer`` of the ``ctc`` objective that trains it: ``val/<objective name>/cer``).
        asr_cer_bar: the CTC transcripts are shown only when that validation CER is at most this.
    """

    labels: list[str]
    quality_head: str = "quality"
    match_head: str | None = "match"
    ctc_head: str | None = "transcript"
    snr_head: str | None = "snr"
    alphabet: str = DEFAULT_ALPHABET
    tokenizer: str | None = None
    suspicious: int = 20
    asr_metric: str = "val/transcript/cer"
    asr_cer_bar: float = 0.3

    def __post_init__(self) -> None:
        if not self.asr_cer_bar >= 0.0:
            raise ValueError(f"asr_cer_bar must be at least 0, got {self.asr_cer_bar}")


@dataclass(frozen=True)
class AsrGate:
    """Whether the report shows the CTC transcripts: only when the ASR head was good enough on the
    validation split.

    Args:
        metric: the validation metric read (``ReportConfig.asr_metric``).
        cer: its value saved with the checkpoint, ``None`` when the checkpoint has none.
        bar: the highest CER shown (``ReportConfig.asr_cer_bar``).
    """

    metric: str
    cer: float | None
    bar: float

    @property
    def shown(self) -> bool:
        return self.cer is not None and self.cer <= self.bar

    def sentence(self) -> str:
        """Why the transcripts are shown or not, for the summary."""
        if self.cer is None:
            return (
                f"ASR transcripts not shown: the checkpoint has no validation {self.metric} (set data.report.asr_metric"
                " to the cer of the ctc objective that trains the report's ctc_head)"
            )
        verdict = "shown" if self.shown else "not shown"
        relation = "at most" if self.shown else "above"
        return (
            f"ASR transcripts {verdict}: validation CER {self.cer:.3f} ({self.metric}) is {relation} the bar"
            f" {self.bar:g}"
        )


@functools.lru_cache(maxsize=4)
def _decoder(alphabet: str, tokenizer: str | None) -> TranscriptText:
    """The id-rows-to-texts function (the CTC objective's metrics decode the same way); a tokenizer
    takes the place of the alphabet."""
    return TranscriptText(None if tokenizer else alphabet, tokenizer)


def _normalize(text: str, alphabet: str | None) -> str:
    text = text.lower()
    if alphabet is not None:
        text = "".join(char for char in text if char in alphabet or char.isspace())
    return re.sub(r"\s+", " ", text).strip()


def _cer(hypothesis: str, reference: str, alphabet: str | None) -> float:
    from torchmetrics.functional.text import char_error_rate

    hypothesis, reference = _normalize(hypothesis, alphabet), _normalize(reference, alphabet)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return round(float(char_error_rate(hypothesis, reference)), 4)


def _unusable(quality: Mapping[str, Any], labels: Sequence[str]) -> tuple[float, float | None]:
    """``(suspicion, margin)`` of a quality head's prediction (see the module docstring).

    The margin comes from the head's ``logits`` when it writes them, else from its probabilities
    (which saturate: a probability that rounds to 0 gives no margin).
    """
    probs = [float(p) for p in quality["probs"]]
    if not probs:
        return 0.0, None
    good = labels.index("ok") if "ok" in labels else max(range(len(probs)), key=probs.__getitem__)
    suspicion = 1.0 - probs[good]
    if quality.get("logits") is not None:
        scores = [float(v) for v in quality["logits"]]
    elif probs[good] > 0.0 and any(p > 0.0 for i, p in enumerate(probs) if i != good):
        scores = [math.log(p) if p > 0.0 else -math.inf for p in probs]
    else:
        return suspicion, None
    rest = [v for i, v in enumerate(scores) if i != good]
    peak = max(rest)
    if peak == -math.inf:
        return suspicion, None
    return suspicion, peak + math.log(sum(math.exp(v - peak) for v in rest)) - scores[good]


def report_row(prediction: Mapping[str, Any], config: ReportConfig, asr_shown: bool = True) -> dict[str, Any]:
    """The report row of one ``predict_step`` row (keys as in the module docstring; absent heads give ``None``).

    ``asr_shown`` is the :class:`AsrGate`'s verdict: without it, ``asr_text`` and ``cer`` stay empty.
    """
    meta = prediction.get("meta") or {}
    quality = prediction[config.quality_head]
    probs = {name: round(float(p), 4) for name, p in zip(config.labels, quality["probs"])}
    match = prediction.get(config.match_head) if config.match_head else None
    match_score = round(float(match["probs"][1]), 4) if match else None
    ctc = prediction.get(config.ctc_head) if config.ctc_head and asr_shown else None
    asr_text = cer = None
    if ctc is not None:
        ids = [int(i) for i in ctc["ids"]][: int(ctc.get("lengths", len(ctc["ids"])))]
        asr_text = _decoder(config.alphabet, config.tokenizer)([ids])[0]
        cer = _cer(asr_text, meta.get("text") or "", None if config.tokenizer else config.alphabet)
    snr = prediction.get(config.snr_head) if config.snr_head else None
    snr_value = snr["value"] if snr else None
    if isinstance(snr_value, list):
        snr_value = snr_value[0]
    suspicion, margin = _unusable(quality, config.labels)
    truth = (prediction.get("targets") or {}).get("quality")  # the speech_qc target, whatever the head is called
    row = {
        "id": str(prediction["id"]),
        "audio": meta.get("audio"),
        "text": meta.get("text"),
        "label": config.labels[int(quality["label"])],
        "true_label": config.labels[truth] if isinstance(truth, int) and 0 <= truth < len(config.labels) else None,
        "suspicion": round(min(1.0, max(0.0, suspicion)), 4),
        "margin": None if margin is None else round(margin, 3),
        "probs": probs,
        "match_score": match_score,
        "asr_text": asr_text,
        "cer": cer,
        "snr_db_pred": None if snr_value is None else round(float(snr_value), 4),
        "features": dict(meta["features"]) if meta.get("features") is not None else None,
    }
    row["finding"] = finding(row)
    return row


def unreadable_row(row_id: str, audio: str | None, text: str | None, reason: str) -> dict[str, Any]:
    """The report row of an utterance the model never saw (e.g. undecodable audio); ``reason`` is its finding."""
    row: dict[str, Any] = {key: None for key in COLUMNS}
    row.update(id=str(row_id), audio=audio, text=text, label=UNREADABLE, suspicion=1.0, finding=reason)
    return {**row, "probs": None, "features": None}


def read_report(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``report.jsonl``; a partial last line (a killed run) is dropped, other bad lines raise."""
    return read_jsonl(Path(path))[0]


def repair_report(path: Path) -> set[str]:
    """Cuts a report file after its last valid line (creating it if missing) and returns the ids it holds."""
    return {str(row["id"]) for row in repair_jsonl(Path(path))}


class QCReportWriter(JsonlPredictionWriter):
    """Appends report rows to ``directory/report.jsonl`` after every batch and writes the summary at the end.

    Rank ``r > 0`` of a multi-process run writes ``report.rank<r>.jsonl``; rank 0 also writes the
    ``unreadable`` rows (built with :func:`unreadable_row`) and the summary. With ``resume`` the
    existing file is repaired and kept, and rows whose ids it already holds are not written again.
    """

    def __init__(
        self, directory: Path, config: ReportConfig, unreadable: Sequence[dict[str, Any]] = (), resume: bool = False
    ) -> None:
        super().__init__(Path(directory) / REPORT, resume=resume)
        self.directory = Path(directory)
        self.output = self.directory
        self.config = config
        self.unreadable = list(unreadable)
        self.asr: AsrGate | None = None
        self.temperature: float | None = None

    def rows(self, prediction: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        shown = self.asr is not None and self.asr.shown
        return [report_row(row, self.config, asr_shown=shown) for row in prediction]

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        """Read what the loaded checkpoint says of the model (a :class:`~mmzoo.module.MultimodalModule`):
        the quality head's temperature and the ASR head's validation CER."""
        quality = pl_module.heads[self.config.quality_head]
        self.temperature = float(quality.temperature) if isinstance(quality, CalibratedHead) else None
        if self.config.ctc_head is not None:
            cer = pl_module.validation_metrics.get(self.config.asr_metric)
            self.asr = AsrGate(self.config.asr_metric, None if cer is None else float(cer), self.config.asr_cer_bar)
        self.directory.mkdir(parents=True, exist_ok=True)
        super().on_predict_start(trainer, pl_module)
        if trainer.global_rank == 0:
            self._append(self._target(trainer), self.unreadable)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        trainer.strategy.barrier("qc_report")
        if trainer.global_rank == 0:
            write_summary(self.directory, self.config, asr=self.asr, temperature=self.temperature)
            print(f"QC summary: {(self.directory / PAGE).resolve()}")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _ordered(names: set[str], labels: Sequence[str]) -> list[str]:
    return [name for name in labels if name in names] + sorted(names - set(labels))


def _metrics(pairs: list[tuple[str, str]], labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-label precision/recall/F1 (torchmetrics) and their macro-F1 over ``labels``.

    Args:
        pairs: ``(true, predicted)`` label names; labels: the names to score (those found in
            truth or prediction), every name in ``pairs`` among them.
    """
    import torch
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    index = {name: i for i, name in enumerate(labels)}
    target = torch.tensor([index[true] for true, _ in pairs])
    preds = torch.tensor([index[pred] for _, pred in pairs])
    options: dict[str, Any] = {"num_classes": len(labels), "average": "none", "zero_division": 0}
    scores = {
        "precision": multiclass_precision(preds, target, **options),
        "recall": multiclass_recall(preds, target, **options),
        "f1": multiclass_f1_score(preds, target, **options),
    }
    per_label = {name: {key: round(float(v[i]), 4) for key, v in scores.items()} for name, i in index.items()}
    accuracy = float(multiclass_accuracy(preds, target, num_classes=len(labels), average="micro"))
    macro = float(scores["f1"].mean())
    return {"rows": len(pairs), "accuracy": round(accuracy, 4), "macro_f1": round(macro, 4), "per_label": per_label}


def _save_figure(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.name + ".tmp")
    figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    os.replace(tmp, path)


def _confusion_figure(pairs: list[tuple[str, str]], labels: list[str]) -> Any:
    import matplotlib.pyplot as plt

    counts = Counter(pairs)
    grid = [[counts[(true, pred)] for pred in labels] for true in labels]
    figure, axes = plt.subplots(figsize=(1.2 + 0.8 * len(labels), 1.4 + 0.8 * len(labels)))
    axes.imshow(grid, cmap="Blues")
    peak = max(max(row) for row in grid)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            axes.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_title(f"confusion matrix ({len(pairs)} labelled rows)")
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    return figure


def _plot_confusion(pairs: list[tuple[str, str]], labels: list[str], path: Path) -> None:
    _save_figure(_confusion_figure(pairs, labels), path)


SCORE_PANELS = (
    ("suspicion", "suspicion score by predicted label", "suspicion: 1 - P(ok)"),
    ("match_score", "match score by predicted label", "match score: P(transcript matches audio)"),
)


def _scores_figure(rows: list[dict[str, Any]], labels: list[str]) -> Any:
    """Stacked histograms of the row scores by predicted label: one panel per score that has values.

    A run without a match head (the heuristic baseline, an audio-only model) has no match scores,
    so its figure has the suspicion panel alone. Every panel has a title and axis titles.
    """
    import matplotlib.pyplot as plt

    panels = []
    for key, title, xlabel in SCORE_PANELS:
        groups = {
            name: [row[key] for row in rows if row["label"] == name and row.get(key) is not None] for name in labels
        }
        groups = {name: values for name, values in groups.items() if values}
        if groups:
            panels.append((title, xlabel, groups))
    figure, axes_list = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 3.8), squeeze=False)
    figure.suptitle(f"QC scores of {len(rows)} utterances")
    for axes, (title, xlabel, groups) in zip(axes_list[0], panels):
        axes.hist(list(groups.values()), bins=20, range=(0.0, 1.0), stacked=True, label=list(groups))
        axes.legend(fontsize="small", title="predicted label")
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel("utterances")
    if not panels:  # no row has a score: say so under the same titles
        axes = axes_list[0][0]
        axes.set_title(SCORE_PANELS[0][1])
        axes.set_xlabel(SCORE_PANELS[0][2])
        axes.set_ylabel("utterances")
        axes.text(0.5, 0.5, "no scored utterances", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    return figure


def _plot_scores(rows: list[dict[str, Any]], labels: list[str], path: Path) -> None:
    _save_figure(_scores_figure(rows, labels), path)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells])


def _markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown (``summary.md``; ``report.html`` is :func:`mmzoo.qc.page.render_page`)."""
    truth = summary["true_counts"] or {}
    counts = [[name, n, truth.get(name)] for name, n in summary["counts"].items()]
    counts += [[name, 0, n] for name, n in truth.items() if name not in summary["counts"]]
    sections = [
        ("Totals", f"{summary['total']} utterances"),
        ("Labels", _table(["label", "predicted", "true"], counts)),
    ]
    metrics = summary["metrics"]
    if metrics is None:
        sections.append(("Metrics", summary["note"]))
    else:
        text = f"accuracy {metrics['accuracy']}, macro-F1 {metrics['macro_f1']} over {metrics['rows']} labelled rows"
        if metrics["mismatch_recall"] is not None:
            text += f", mismatch recall {metrics['mismatch_recall']}"
        rows = [[name, v["precision"], v["recall"], v["f1"]] for name, v in metrics["per_label"].items()]
        sections.append(("Metrics", text + "\n\n" + _table(["label", "precision", "recall", "F1"], rows)))
    if summary.get("calibration"):
        sections.append(("Calibration", calibration_sentence(summary["calibration"])))
    if summary.get("notes"):
        sections.append(("Notes", "\n\n".join(summary["notes"])))
    if summary.get("ranking"):
        ranking = summary["ranking"]
        sections.append(("Ranking", ranking_sentence(ranking) + "\n\n" + _table(*ranking_rows(ranking))))
    pictures = [summary["files"][key] for key in PICTURES if summary["files"].get(key)]
    sections.append(("Pictures", "\n\n".join(f"![{name}]({name})" for name in pictures)))
    suspicious = [[row[key] for key in SUSPICIOUS_FIELDS] for row in summary["suspicious"]]
    sections.append(("Most suspicious", _table(SUSPICIOUS_FIELDS, suspicious)))
    sections.append(("Files", ", ".join(f"[{name}]({name})" for name in summary["files"]["data"])))
    return "# QC report\n\n" + "\n\n".join(f"## {title}\n\n{body}" for title, body in sections) + "\n"


def _report_files(directory: Path) -> list[Path]:
    ranks = sorted(directory.glob("report.rank*.jsonl"), key=lambda path: int(path.name.split(".")[1][4:]))
    return [directory / REPORT, *ranks]


def write_summary(
    directory: Path,
    config: ReportConfig,
    *,
    notes: Sequence[str] = (),
    files: Sequence[str] = (),
    asr: AsrGate | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    """Writes ``report.csv``, ``summary.json``, ``summary.md``, ``report.html``, ``scores.png`` and, when true
    labels are known, ``confusion.png``, ``pr.png`` and ``reliability.png`` from the report files in
    ``directory``; returns the summary.

    Rows of every rank's file are read (the first row of an id wins). Metrics are computed over the
    rows with a true label; the ``suspicious`` list puts unreadable rows first, then the highest
    suspicion (ties: the highest margin). ``notes`` (sentences) appear under "Notes" and ``files``
    (names in ``directory``) are linked with the data files; the heuristic baseline passes its
    rules this way. ``asr`` (whether transcripts are shown, and why) adds a note; ``temperature``
    is the quality head's, for the calibration figures (:mod:`mmzoo.qc.calibration`).
    """
    import matplotlib

    matplotlib.use("Agg")
    directory = Path(directory)
    rows: dict[str, dict[str, Any]] = {}
    for path in _report_files(directory):
        for row in read_report(path) if path.exists() else []:
            rows.setdefault(str(row["id"]), row)
    table = list(rows.values())
    found = {row["label"] for row in table} - set(config.labels)
    labels = [*config.labels, *_ordered(found, [UNREADABLE])]

    features = sorted({name for row in table for name in row.get("features") or {}})
    header = COLUMNS + [f"p_{name}" for name in config.labels] + [f"f_{name}" for name in features]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table:
        probs, values = row.get("probs") or {}, row.get("features") or {}
        writer.writerow(
            [row.get(key) for key in COLUMNS]
            + [probs.get(name) for name in config.labels]
            + [values.get(name) for name in features]
        )
    _write_atomic(directory / "report.csv", buffer.getvalue())

    pairs = [(row["true_label"], row["label"]) for row in table if row.get("true_label") is not None]
    metrics = note = confusion = None
    if pairs:
        present = _ordered({name for pair in pairs for name in pair}, config.labels)
        metrics = _metrics(pairs, present)
        truths = {true for true, _ in pairs}
        metrics["mismatch_recall"] = metrics["per_label"]["mismatch"]["recall"] if "mismatch" in truths else None
        confusion = "confusion.png"
        _plot_confusion(pairs, present, directory / confusion)
    else:
        note = "no true labels in the report: no metrics and no confusion matrix"
        (directory / "confusion.png").unlink(missing_ok=True)
    _plot_scores(table, labels, directory / "scores.png")
    pr_curves = pr_figure(table, config.labels)
    if pr_curves is not None:
        _save_figure(pr_curves, directory / "pr.png")
    else:
        (directory / "pr.png").unlink(missing_ok=True)
    calibration = calibration_quality(table, config.labels, temperature)
    if calibration is not None:
        _save_figure(reliability_figure(calibration), directory / "reliability.png")
    else:
        (directory / "reliability.png").unlink(missing_ok=True)
    if asr is not None:
        notes = [asr.sentence(), *notes]

    ranked = sorted(table, key=lambda row: (row["label"] != UNREADABLE, rank_key(row)))
    summary: dict[str, Any] = {
        "total": len(table),
        "counts": {name: sum(row["label"] == name for row in table) for name in labels},
        "true_counts": dict(Counter(true for true, _ in pairs)) or None,
        "metrics": metrics,
        "ranking": ranking_quality(table, config.labels),
        "calibration": calibration,
        "asr": None if asr is None else {"metric": asr.metric, "cer": asr.cer, "bar": asr.bar, "shown": asr.shown},
        "note": note,
        "notes": list(notes),
        "suspicious": [{key: row.get(key) for key in SUSPICIOUS_FIELDS} for row in ranked[: config.suspicious]],
        "files": {
            "confusion": confusion,
            "scores": "scores.png",
            "pr": None if pr_curves is None else "pr.png",
            "reliability": None if calibration is None else "reliability.png",
            "data": [REPORT, "report.csv", "summary.json", *files],
        },
    }
    _write_atomic(directory / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write_atomic(directory / "summary.md", _markdown(summary))
    _write_atomic(directory / PAGE, render_page(summary, directory, SUSPICIOUS_FIELDS))
    return summary
