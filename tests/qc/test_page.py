"""``report.html`` in a real browser: self-contained, sortable, one audio player per row.

The browser is the system's Chromium driven by Selenium through the system's chromedriver
(Debian's ``chromium`` and ``chromium-driver``, which ``.ci/run`` installs). Without them the test
is skipped, unless ``MMZOO_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import pytest

from mmzoo.qc.page import PAGE
from mmzoo.qc.report import REPORT, ReportConfig, write_summary

LABELS = ["ok", "noisy", "clipped"]


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(b"\x00\x01" * 800)
    return path


def _row(index: int, audio: Path, suspicion: float, label: str, truth: str) -> dict:
    probs = {name: (1.0 - suspicion if name == "ok" else suspicion / 2) for name in LABELS}
    return {
        "id": f"utt{index}",
        "audio": str(audio),
        "text": "zero one",
        "label": label,
        "true_label": truth,
        "suspicion": suspicion,
        "match_score": round(1 - suspicion / 2, 3),
        "asr_text": None,
        "cer": None,
        "snr_db_pred": None,
        "finding": f"finding {index}",
        "probs": probs,
        "features": {},
    }


@pytest.fixture
def report(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus" / "wav"
    corpus.mkdir(parents=True)
    directory = tmp_path / "run" / "report"
    directory.mkdir(parents=True)
    suspicions = [0.2, 0.9, 0.5, 0.05, 0.7]
    rows = [
        _row(i, _wav(corpus / f"utt{i}.wav"), s, "ok" if s < 0.5 else "noisy", "ok" if i % 2 else "noisy")
        for i, s in enumerate(suspicions)
    ]
    (directory / REPORT).write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_summary(directory, ReportConfig(labels=LABELS, match_head=None, ctc_head=None, snr_head=None))
    return directory


def test_the_page_is_self_contained(report):
    text = (report / PAGE).read_text()
    assert "http://" not in text and "https://" not in text
    assert text.count("data:image/png;base64,") == 4  # the confusion matrix, PR curves, reliability diagram and scores
    assert text.count("<audio controls") == 5
    assert 'src="../../corpus/wav/utt1.wav"' in text  # relative to the report folder


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    webdriver = None
    if chromium and driver:
        webdriver = pytest.importorskip("selenium.webdriver")
    if webdriver is None:
        if os.environ.get("MMZOO_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)")
        pytest.skip("no chromium/chromedriver on this machine")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--allow-file-access-from-files"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_a_browser_loads_the_page_sorts_the_table_and_finds_the_audio(report):
    from selenium.webdriver.common.by import By

    browser = _browser()
    try:
        browser.get((report / PAGE).as_uri())
        assert browser.title == "QC report"

        def order() -> list[str]:
            return [
                row.get_attribute("data-id") for row in browser.find_elements(By.CSS_SELECTOR, "#suspicious tbody tr")
            ]

        assert order() == ["utt1", "utt4", "utt2", "utt0", "utt3"]  # most suspicious first, as written
        heading = next(
            th for th in browser.find_elements(By.CSS_SELECTOR, "#suspicious th") if th.text.strip() == "suspicion"
        )
        heading.click()
        assert order() == ["utt3", "utt0", "utt2", "utt4", "utt1"]
        assert heading.get_attribute("aria-sort") == "ascending"
        heading.click()
        assert order() == ["utt1", "utt4", "utt2", "utt0", "utt3"]
        by_id = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#suspicious th") if th.text.strip() == "id")
        by_id.click()
        assert order() == ["utt0", "utt1", "utt2", "utt3", "utt4"]

        players = browser.find_elements(By.CSS_SELECTOR, "#suspicious audio")
        assert len(players) == 5
        for player in players:
            source = player.get_property("src")
            assert source.startswith("file://") and Path(source.removeprefix("file://")).is_file()
        images = browser.find_elements(By.TAG_NAME, "img")
        assert len(images) == 4 and all(image.get_property("naturalWidth") > 0 for image in images)
        requested = browser.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
        )
        assert not [name for name in requested if name.startswith("http")]
    finally:
        browser.quit()
