"""The QC report: report rows, crash-tolerant report files, the prediction writer and the summary page."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from mmzoo.heads.classification import ClassificationHead
from mmzoo.ops.text import DEFAULT_ALPHABET
from mmzoo.qc.ranking import rank_key
from mmzoo.qc.report import (
    AsrGate,
    QCReportWriter,
    ReportConfig,
    read_report,
    repair_report,
    report_row,
    unreadable_row,
    write_summary,
)

LABELS = ["ok", "noisy", "clipped", "truncated", "dropout", "mismatch"]


def _ids(text: str) -> list[int]:
    return [DEFAULT_ALPHABET.index(char) + 1 for char in text]


def _prediction(row_id: str, pred: str, true: str | None, labels: list[str] = LABELS, match: float = 0.9) -> dict:
    probs = [0.9 if name == pred else 0.1 / (len(labels) - 1) for name in labels]
    row: dict[str, Any] = {
        "id": row_id,
        labels[0] + "@audio": {"label": 0, "probs": probs},
        "quality": {"label": labels.index(pred), "probs": probs},
        "match": {"label": int(match > 0.5), "probs": [1 - match, match]},
        "transcript": {"ids": _ids("cut") + [-1, -1], "lengths": 3},
        "snr": {"value": [12.5]},
        "meta": {"audio": f"/data/{row_id}.wav", "text": "Cat!", "features": {"snr_db": 31.2, "clipping_ratio": 0.0}},
    }
    if true is not None:
        row["targets"] = {"quality": labels.index(true), "match": 1}
    return row


def test_report_row_fields() -> None:
    row = report_row(_prediction("utt_7", "clipped", "clipped"), ReportConfig(labels=LABELS))
    assert row["id"] == "utt_7" and row["audio"] == "/data/utt_7.wav" and row["text"] == "Cat!"
    assert row["label"] == "clipped" and row["true_label"] == "clipped"
    assert list(row["probs"]) == LABELS and row["probs"]["clipped"] == 0.9 and row["probs"]["ok"] == 0.02
    assert row["match_score"] == 0.9
    assert row["asr_text"] == "cut"
    assert row["cer"] == pytest.approx(1 / 3, abs=1e-4)  # "cat" (normalized "Cat!") vs "cut"
    assert row["snr_db_pred"] == 12.5
    assert row["features"] == {"snr_db": 31.2, "clipping_ratio": 0.0}
    assert row["suspicion"] == pytest.approx(0.98)  # 1 - P(ok)
    assert row["margin"] == pytest.approx(math.log(0.98 / 0.02), abs=1e-3)  # from probs: no logits given
    assert row["finding"] == "clipped (p 0.90); 0.0% of samples clipped flat"


def test_report_row_without_optional_heads() -> None:
    prediction = _prediction("u", "ok", None, match=0.2)
    low_match = report_row(prediction, ReportConfig(labels=LABELS))
    assert low_match["suspicion"] == pytest.approx(0.1)  # the quality head's belief alone
    assert low_match["finding"] == "ok (p 0.90); transcript match 0.20; heard 'cut' for 'cat'"
    for head in ("match", "transcript", "snr"):
        del prediction[head]
    row = report_row(prediction, ReportConfig(labels=LABELS))
    assert row["match_score"] is None and row["asr_text"] is None and row["cer"] is None
    assert row["snr_db_pred"] is None and row["true_label"] is None
    assert row["suspicion"] == pytest.approx(0.1)
    no_ok = report_row(_prediction("u", "b", None, labels=["a", "b"]), ReportConfig(labels=["a", "b"], match_head=None))
    assert no_ok["suspicion"] == pytest.approx(0.1)  # 1 - max prob without an "ok" label


def test_the_margin_orders_rows_whose_suspicion_saturates() -> None:
    sure, surer = _prediction("a", "noisy", None), _prediction("b", "noisy", None)
    sure["quality"]["logits"] = [-20.0, 5.0, 0.0, 0.0, 0.0, 0.0]
    surer["quality"]["logits"] = [-30.0, 5.0, 0.0, 0.0, 0.0, 0.0]
    for prediction in (sure, surer):
        prediction["quality"]["probs"] = torch.tensor(prediction["quality"]["logits"]).softmax(-1).tolist()
    rows = [report_row(p, ReportConfig(labels=LABELS)) for p in (sure, surer)]
    assert rows[0]["suspicion"] == rows[1]["suspicion"] == 1.0
    expected = torch.tensor([5.0, 0.0, 0.0, 0.0, 0.0]).logsumexp(0).item() + 20.0
    assert rows[0]["margin"] == pytest.approx(expected, abs=1e-3) and rows[1]["margin"] == pytest.approx(
        expected + 10, abs=1e-3
    )
    assert [row["id"] for row in sorted(rows, key=rank_key)] == ["b", "a"]


def test_transcripts_are_left_out_when_the_asr_gate_is_closed() -> None:
    row = report_row(_prediction("u", "mismatch", None, match=0.2), ReportConfig(labels=LABELS), asr_shown=False)
    assert row["asr_text"] is None and row["cer"] is None and "heard" not in row["finding"]
    assert AsrGate("val/t/cer", 0.12, 0.3).shown and not AsrGate("val/t/cer", 0.31, 0.3).shown
    assert AsrGate("val/t/cer", 0.31, 0.3).sentence() == (
        "ASR transcripts not shown: validation CER 0.310 (val/t/cer) is above the bar 0.3"
    )
    missing = AsrGate("val/t/cer", None, 0.3)
    assert not missing.shown and "the checkpoint has no validation val/t/cer" in missing.sentence()
    with pytest.raises(ValueError, match="asr_cer_bar must be at least 0"):
        ReportConfig(labels=LABELS, asr_cer_bar=-0.1)


def test_cer_of_empty_reference() -> None:
    prediction = _prediction("u", "ok", None)
    prediction["meta"]["text"] = "123 !"
    assert report_row(prediction, ReportConfig(labels=LABELS))["cer"] == 1.0
    prediction["transcript"] = {"ids": [-1], "lengths": 0}
    assert report_row(prediction, ReportConfig(labels=LABELS))["cer"] == 0.0


def test_unreadable_row_has_the_report_keys() -> None:
    row = unreadable_row("bad", "/data/bad.wav", "hello", "cannot decode")
    assert set(row) == set(report_row(_prediction("u", "ok", "ok"), ReportConfig(labels=LABELS)))
    assert row["label"] == "unreadable" and row["finding"] == "cannot decode" and row["suspicion"] == 1.0
    assert row["probs"] is None and row["match_score"] is None and row["asr_text"] is None


def test_partial_last_line_is_dropped_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    good = "".join(json.dumps({"id": name, "label": "ok"}) + "\n" for name in ("a", "b"))
    path.write_text(good + '{"id": "c", "lab', encoding="utf-8")
    assert [row["id"] for row in read_report(path)] == ["a", "b"]
    assert repair_report(path) == {"a", "b"}
    assert path.read_text(encoding="utf-8") == good
    path.write_text('{"id": "a"}', encoding="utf-8")  # complete but unterminated: kept, newline added
    assert repair_report(path) == {"a"} and path.read_text(encoding="utf-8") == '{"id": "a"}\n'
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt"):
        read_report(path)
    assert repair_report(tmp_path / "new.jsonl") == set() and (tmp_path / "new.jsonl").exists()


class _Fixed(lightning.LightningModule):
    """Predicts the given rows, one list per batch of indices; has the module parts the writer reads."""

    def __init__(self, rows: list[dict], temperature: float = 1.0, validation_cer: float | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.weight = torch.nn.Parameter(torch.zeros(1))
        quality = ClassificationHead(in_dim=2, num_classes=len(LABELS3))
        quality.set_temperature(temperature)
        self.heads = torch.nn.ModuleDict({"quality": quality})
        self.validation_metrics = {} if validation_cer is None else {"val/transcript/cer": validation_cer}

    def predict_step(self, batch: list[int], batch_idx: int) -> list[dict]:
        return [self.rows[i] for i in batch]


def _predict(
    directory: Path, rows: list[dict], config: ReportConfig, module: dict[str, Any] | None = None, **kwargs: Any
) -> QCReportWriter:
    writer = QCReportWriter(directory, config, **kwargs)
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[writer],
    )
    loader = DataLoader(list(range(len(rows))), batch_size=2, collate_fn=list)
    trainer.predict(_Fixed(rows, **(module or {})), dataloaders=loader, return_predictions=False)
    return writer


LABELS3 = ["ok", "noisy", "mismatch"]
PAIRS = [
    ("ok", "ok"),
    ("ok", "noisy"),
    ("noisy", "noisy"),
    ("mismatch", "mismatch"),
    ("mismatch", "ok"),
    ("noisy", "noisy"),
]
ROWS = [_prediction(f"u{i}", pred, true, labels=LABELS3) for i, (true, pred) in enumerate(PAIRS)]
ROWS[4]["match"]["probs"] = [0.99, 0.01]  # the missed mismatch: flagged by its match score alone
ROWS[2]["quality"]["probs"] = [0.01, 0.98, 0.01]  # the most suspicious model row: 1 - P(ok) = 0.99
BAD = unreadable_row("bad", "/data/bad.wav", "x", "decode error: <EOF> & more")


def _is_png(path: Path) -> bool:
    with Image.open(path) as image:
        image.verify()
        return image.format == "PNG"


def test_writer_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qc"
    _predict(out, ROWS, ReportConfig(labels=LABELS3, suspicious=3), unreadable=[BAD])
    assert str(out / "report.html") in capsys.readouterr().out
    rows = read_report(out / "report.jsonl")
    assert [row["id"] for row in rows] == ["bad", "u0", "u1", "u2", "u3", "u4", "u5"]
    assert [row["label"] for row in rows[1:]] == [pred for _, pred in PAIRS]

    with (out / "report.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 7
    assert list(table[0])[:4] == ["id", "audio", "text", "label"]
    assert list(table[0])[-5:] == ["p_ok", "p_noisy", "p_mismatch", "f_clipping_ratio", "f_snr_db"]
    assert table[1]["p_ok"] == "0.9" and table[1]["f_snr_db"] == "31.2" and table[0]["p_ok"] == ""

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["total"] == 7
    assert summary["counts"] == {"ok": 2, "noisy": 3, "mismatch": 1, "unreadable": 1}
    assert summary["true_counts"] == {"ok": 2, "noisy": 2, "mismatch": 2}
    metrics = summary["metrics"]
    # F1: ok 0.5 (P 1/2, R 1/2), noisy 0.8 (P 2/3, R 1), mismatch 2/3 (P 1, R 1/2)
    assert metrics["per_label"]["noisy"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8}
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3, abs=1e-4)
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert metrics["mismatch_recall"] == 0.5
    assert [row["id"] for row in summary["suspicious"]][:2] == ["bad", "u2"] and len(summary["suspicious"]) == 3

    assert _is_png(out / "confusion.png") and _is_png(out / "scores.png")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert (
        page.count('src="data:image/png;base64,') == 4 and 'href="report.csv"' in page
    )  # confusion, pr, reliability, scores
    assert "&lt;EOF&gt; &amp; more" in page and "<EOF>" not in page
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    assert "(confusion.png)" in markdown and "(scores.png)" in markdown and "report.jsonl" in markdown
    assert not list(out.glob("*.tmp"))


def test_resume_writes_each_id_once(tmp_path: Path) -> None:
    config = ReportConfig(labels=LABELS3)
    out = tmp_path / "qc"
    out.mkdir()
    done = [unreadable_row("bad", None, None, "old"), report_row(ROWS[0], config), report_row(ROWS[1], config)]
    (out / "report.jsonl").write_text("".join(json.dumps(row) + "\n" for row in done) + '{"id": "u2", "la', "utf-8")
    _predict(out, ROWS, config, unreadable=[BAD], resume=True)
    ids = [row["id"] for row in read_report(out / "report.jsonl")]
    assert sorted(ids) == ["bad", "u0", "u1", "u2", "u3", "u4", "u5"]
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["total"] == 7


def test_without_truths_there_is_no_confusion_matrix(tmp_path: Path) -> None:
    out = tmp_path / "qc"
    rows = [_prediction(f"u{i}", pred, None, labels=LABELS3) for i, (_, pred) in enumerate(PAIRS)]
    _predict(out, rows, ReportConfig(labels=LABELS3))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["metrics"] is None and summary["true_counts"] is None and "no true labels" in summary["note"]
    assert not (out / "confusion.png").exists() and _is_png(out / "scores.png")
    assert "no true labels" in (out / "report.html").read_text(encoding="utf-8")


def test_other_ranks_write_their_own_file(tmp_path: Path) -> None:
    config = ReportConfig(labels=LABELS3)
    for rank, rows in enumerate((ROWS[:3], ROWS[3:])):
        writer = QCReportWriter(tmp_path, config, unreadable=[BAD])
        trainer = SimpleNamespace(global_rank=rank)
        writer.on_predict_start(trainer, _Fixed(rows))
        writer.write_on_batch_end(trainer, None, rows, None, None, 0, 0)
    assert [row["id"] for row in read_report(tmp_path / "report.rank1.jsonl")] == ["u3", "u4", "u5"]
    assert write_summary(tmp_path, config)["total"] == 7


def test_the_writer_reports_the_heads_temperature_and_the_asr_gate(tmp_path: Path) -> None:
    _predict(tmp_path / "a", ROWS, ReportConfig(labels=LABELS3), module={"temperature": 2.0, "validation_cer": 0.1})
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["calibration"]["temperature"] == 2.0 and summary["calibration"]["uncalibrated"] is not None
    assert summary["asr"] == {"metric": "val/transcript/cer", "cer": 0.1, "bar": 0.3, "shown": True}
    assert read_report(tmp_path / "a" / "report.jsonl")[0]["asr_text"] == "cut"
    _predict(tmp_path / "b", ROWS, ReportConfig(labels=LABELS3))  # T = 1, no CER saved with the checkpoint
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["calibration"]["temperature"] == 1.0 and summary["calibration"]["uncalibrated"] is None
    assert summary["asr"]["shown"] is False and "has no validation val/transcript/cer" in summary["notes"][0]
    assert read_report(tmp_path / "b" / "report.jsonl")[0]["asr_text"] is None
    assert "the recipe does not calibrate" in (tmp_path / "b" / "summary.md").read_text()
