"""A real headless Chromium (Debian package, driven by pip playwright) uploads a log to the Space.

Skips when no Chromium binary is found, unless LOGLLM_REQUIRE_BROWSER=1 (CI), then fails.
Saves the page as bench/results/space_screenshot.png.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import ROOT, planted_log, start_server, stop_server  # noqa: E402
from test_space_accept import learned_server  # noqa: E402,F401  (`logllm serve` of a learned folder: index + ledger)

pytestmark = pytest.mark.browser
CANDIDATES = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
)
SCREENSHOT = ROOT / "bench" / "results" / "space_screenshot.png"


def find_chromium() -> str | None:
    """$LOGLLM_CHROMIUM, else the Debian binaries (the real ELF behind the /usr/bin wrapper first)."""
    for candidate in (os.environ.get("LOGLLM_CHROMIUM"), *CANDIDATES):
        if not candidate:
            continue
        found = candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("LOGLLM_REQUIRE_BROWSER") == "1":
            pytest.fail("LOGLLM_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium-headless-shell)")
        pytest.skip("no Chromium binary found; install the Debian package chromium-headless-shell")
    pytest.importorskip("playwright.sync_api")
    return path


OPERATING_POINT = 0.37   # the served model's own threshold, saved with it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`logllm serve` with the untrained tiny model, saved with an operating point of its own."""
    from logllm.modeling.presets import build_tiny
    from logllm.scoring.operating_point import OperatingPoint

    model, processor = build_tiny(seed=0)
    OperatingPoint(threshold=OPERATING_POINT, threshold_source="chosen on validation (browser test)").save_to(model)
    model_dir = tmp_path_factory.mktemp("browser-model")
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    proc, url = start_server(str(model_dir), tmp_path_factory.mktemp("browser") / "server.log")
    yield url
    stop_server(proc)


def numbered_rows(text: str) -> list[int]:
    """Line numbers of the shown window's rows (the legend and title lines carry none)."""
    return [int(row.split()[0]) for row in text.splitlines() if row.split() and row.split()[0].isdigit()]


def test_upload_in_a_real_browser_renders_the_windows_table(chromium, server, tmp_path):
    from playwright.sync_api import sync_playwright

    log = tmp_path / "planted.log"
    log.write_text(planted_log(30, planted_at=(17,)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto(server, wait_until="domcontentloaded", timeout=120_000)  # gradio never goes network-idle
            page.locator("#run").wait_for(timeout=120_000)
            page.locator("#log-upload input[type=file]").set_input_files(str(log))
            page.locator("#window textarea, #window input").first.fill("sliding:10:10")
            page.locator("#run").click()
            page.locator("#summary").get_by_text("3 windows").wait_for(timeout=120_000)
            cell = page.locator('#windows-table [data-testid="cell-0-1"]').first
            cell.wait_for(state="attached", timeout=30_000)
            windows = {page.locator(f'#windows-table [data-testid="cell-{r}-1"]').first.inner_text().strip()
                       for r in range(3)}
            assert windows == {"planted.log:1-10", "planted.log:11-20", "planted.log:21-30"}
            top_first = int(cell.inner_text().strip().rsplit(":", 1)[1].split("-")[0])
            shown = numbered_rows(page.locator("#window-lines").inner_text())  # the top window's lines
            assert shown == list(range(top_first, top_first + 10))
            # clicking another row shows that window's lines
            second = page.locator('#windows-table [data-testid="cell-1-1"]').first
            first_line = int(second.inner_text().strip().rsplit(":", 1)[1].split("-")[0])
            assert f"planted.log:{first_line}-" not in cell.inner_text()  # a different window than the one shown
            second.click()
            page.wait_for_function(
                "([sel, n]) => document.querySelector(sel).innerText.split('\\n').find(r => /^\\s*\\d+\\s/.test(r))"
                "?.trim().startsWith(n + ' ')",
                arg=["#window-lines", str(first_line)], timeout=30_000,
            )
            assert numbered_rows(page.locator("#window-lines").inner_text()) == list(range(first_line, first_line + 10))
            page.wait_for_timeout(1500)  # let the plot finish drawing before the picture
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_visitor_who_only_uploads_and_presses_detect_gets_the_models_operating_point(chromium, server):
    """Issue 30 (4): the empty "Threshold" field showed and sent 0 in a real browser, so the bundled HDFS example
    came back "40 windows, 40 anomalous at threshold 0 (given)". Upload, press the button, touch nothing else."""
    from playwright.sync_api import sync_playwright

    example = ROOT / "space" / "examples" / "synthetic_hdfs_sessions.log"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto(server, wait_until="domcontentloaded", timeout=120_000)
            page.locator("#run").wait_for(timeout=120_000)
            shown = page.locator("#threshold textarea, #threshold input").first
            assert shown.input_value() == ""                          # the field is empty as the page shows it
            page.locator("#log-upload input[type=file]").set_input_files(str(example))
            page.locator("#run").click()
            page.wait_for_function(   # the summary, not the progress line ("0/40 windows") shown there meanwhile
                "() => /at threshold|Cannot analyse/.test(document.querySelector('#summary').innerText)",
                timeout=120_000)
            summary = page.locator("#summary").inner_text()
        finally:
            browser.close()
    assert "40 windows" in summary, summary
    assert f"at threshold {OPERATING_POINT:g} (chosen on validation (browser test))" in summary, summary
    assert "(given)" not in summary
    model_name = summary.split("model", 1)[1]
    assert "/tmp" not in model_name and "browser-model" in model_name  # the model by name, not its path


def test_accept_as_normal_in_a_real_browser_clears_the_window(chromium, learned_server, tmp_path):
    """Issue 31: upload, Detect, pick the flagged line's template, Accept as normal, Detect again: not flagged."""
    from playwright.sync_api import sync_playwright
    from test_learn import new_log

    url, model = learned_server
    log = tmp_path / "new.log"
    log.write_text(new_log(), encoding="utf-8")
    done = "() => /at threshold|Cannot analyse/.test(document.querySelector('#summary').innerText)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2200})
            page.goto(url, wait_until="domcontentloaded", timeout=120_000)
            page.locator("#run").wait_for(timeout=120_000)
            page.locator("#log-upload input[type=file]").set_input_files(str(log))
            page.locator("#window textarea, #window input").first.fill("sliding:20")
            page.locator("#run").click()
            page.wait_for_function(done, timeout=120_000)
            assert "1 anomalous" in page.locator("#summary").inner_text()
            page.locator("#accept-status").get_by_text("template(s) behind flagged windows").wait_for(timeout=30_000)
            pick = page.locator("#accept-template input").first
            shown = pick.input_value()   # the flagged line's template is preselected, shown with its line
            assert "error on device <*> reading directory failed" in shown and "line 26" in shown, shown
            page.locator("#accept-note textarea, #accept-note input").first.fill("known disk noise")
            page.locator("#accept").click()
            page.locator("#accept-status").get_by_text("Accepted").wait_for(timeout=30_000)
            page.locator("#run").click()
            page.wait_for_function(  # the new summary (the first one said "1 anomalous")
                "() => /0 anomalous|Cannot analyse/.test(document.querySelector('#summary').innerText)",
                timeout=120_000)
            summary = page.locator("#summary").inner_text()
        finally:
            browser.close()
    assert "0 anomalous" in summary, summary
    entry = json.loads((model / "accepted.json").read_text())["entries"][0]
    assert entry["note"] == "known disk noise" and entry["text"] == "kernel: <*> error on device <*> reading directory failed"
