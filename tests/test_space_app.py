"""The Space as a user meets it: a real server on 127.0.0.1 driven by gradio_client.

The server runs the tiny model trained to flag `PLANTED` (detect_support.trained_tiny), so the
upload test checks the page finds and highlights the planted line, not only that it renders.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import PLANTED, planted_log, start_server, stop_server, trained_tiny_model_dir  # noqa: E402

MAX_MB = 0.5
MAX_DECOMPRESSED_MB = 2.0


@pytest.fixture(scope="module")
def model_dir():
    return str(trained_tiny_model_dir())


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("space") / "server.log"
    server_tmp = tmp_path_factory.mktemp("space-tmp")
    proc, url = start_server(model_dir, log, max_mb=MAX_MB, tmpdir=server_tmp,
                             extra_args=("--max-decompressed-mb", str(MAX_DECOMPRESSED_MB)))
    yield url, log, server_tmp
    stop_server(proc)


def analyze(client: Client, model_dir: str, upload=None, pasted: str = "", example=None, window: str = "",
            threshold: float = 0.5):
    """`/analyze` as the page sends it; the model is the server's default (`model_dir`), picked by no name: a request
    cannot name a folder."""
    return client.predict(upload, pasted, example, None, "auto", window, threshold, api_name="/analyze")


def highlighted_evidence(lines: list[dict]) -> dict[int, tuple[float, str]]:
    """Line number -> (evidence, text) for the highlighted spans of the page's line view."""
    found = {}
    for span in lines:
        if span["class_or_confidence"]:
            match = re.match(r"\s*(\d+)  (.*)   \[evidence ([-+]\d+\.\d+) log-odds\]", span["token"])
            assert match, span["token"]
            found[int(match[1])] = (float(match[3]), match[2])
    return found


def test_upload_flags_the_planted_window_and_highlights_the_planted_line(server, model_dir, tmp_path):
    url, _, _ = server
    log = tmp_path / "planted.log"
    log.write_text(planted_log(30, planted_at=(17,)))
    client = Client(url, verbose=False)
    summary, table, lines, plot, cm, roc, label_text, csv_path, jsonl_path = analyze(
        client, model_dir, upload=handle_file(str(log)), window="sliding:10:10")
    assert "**3 windows**, **1 anomalous**" in summary and "format `plain`" in summary
    assert table["headers"][:7] == ["rank", "window", "source", "lines", "probability", "status", "why"]
    windows = [row[1] for row in table["data"]]
    probs = [row[4] for row in table["data"]]
    assert sorted(windows) == ["planted.log:1-10", "planted.log:11-20", "planted.log:21-30"]
    # the window holding the planted line ranks first, above the threshold; the clean ones below it
    assert windows[0] == "planted.log:11-20" and probs[0] > 0.5 > max(probs[1:])
    # the page shows that window, and the planted line is highlighted with the most evidence
    assert len(lines) == 10 and PLANTED in "".join(span["token"] for span in lines)
    evidence = highlighted_evidence(lines)
    top_line = max(evidence, key=lambda number: evidence[number][0])
    assert top_line == 17 and evidence[17][1] == PLANTED and evidence[17][0] > 0.5
    assert "no labels" in label_text and cm is None and roc is None
    assert Path(csv_path).read_text().count("\n") == 4
    rows = [json.loads(row) for row in Path(jsonl_path).read_text().splitlines()]
    flagged = [row for row in rows if row["anomalous"]]
    assert len(rows) == 3 and len(flagged) == 1 and flagged[0]["suspicious_lines"][0]["line"] == 17


def test_api_without_a_model_uses_the_servers_model(server):
    """`logllm serve --model X`: an API call that names no model is scored by X (the trained tiny model that flags
    the planted line), not the quickstart default."""
    url, _, _ = server
    summary = Client(url, verbose=False).predict(None, planted_log(30), None, None, "auto", "sliding:10:10", None,
                                                 api_name="/analyze")[0]
    assert "**3 windows**, **1 anomalous**" in summary, summary


def test_bundled_labeled_example_gives_confusion_matrix_and_roc(server, model_dir):
    url, _, _ = server
    summary, table, *_rest = analyze(Client(url, verbose=False), model_dir, example="synthetic_bgl_labeled.log")
    _lines, _plot, cm, roc, label_text, _csv, _jsonl = _rest
    assert "format `bgl`" in summary and len(table["data"]) == 6
    assert Path(cm).name == "confusion_matrix.png" and Path(roc).name == "roc_curve.png"
    assert "precision" in label_text and "ROC-AUC" in label_text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("binary.bin", b"\x00\x01\x02ELF" * 300, "binary"),
        ("empty.log", b"", "empty"),
        ("latin1.log", "résumé sent\n".encode("latin-1") * 4, "not valid UTF-8"),
        ("data.json", b'{"a": 1}\n{"b": 2}\n', "format not recognised"),
    ],
    ids=["binary", "empty", "non-utf8", "unknown-format"],
)
def test_bad_uploads_give_a_message_in_the_page(server, model_dir, tmp_path, name, content, message):
    url, log, _ = server
    path = tmp_path / name
    path.write_bytes(content)
    summary = analyze(Client(url, verbose=False), model_dir, upload=handle_file(str(path)))[0]
    assert message in summary and "Traceback" not in summary


def test_huge_input_is_refused_and_the_app_stays_up(server, model_dir, tmp_path):
    url, _, _ = server
    client = Client(url, verbose=False)
    summary = analyze(client, model_dir, pasted="x" * int(MAX_MB * 1e6 + 10))[0]
    assert "the limit is 0.5 MB" in summary
    big = tmp_path / "big.log"
    big.write_bytes(b"a log line\n" * int(MAX_MB * 1e6 / 11 + 100))
    with pytest.raises(Exception, match="(?i)too large|size|limit"):
        analyze(client, model_dir, upload=handle_file(str(big)))
    assert "Upload a log file" in analyze(client, model_dir)[0]  # nothing given: a hint, and still alive
    assert "**3 windows**" in analyze(client, model_dir, pasted=planted_log(30), window="sliding:10:10")[0]


def test_analysis_folders_are_removed_after_an_error_and_when_an_hour_old(server, model_dir, tmp_path):
    """A Space runs for weeks: each analysis' folder must not stay forever."""
    url, _, server_tmp = server
    root = server_tmp / "logllm-space"
    root.mkdir(exist_ok=True)
    old, recent = root / "old-analysis", root / "recent-analysis"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "logllm_results.csv").write_text("window_id\n")
    two_hours_ago = old.stat().st_mtime - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    before = set(root.iterdir()) - {old}  # earlier tests' analyses are recent too
    client = Client(url, verbose=False)
    bad = tmp_path / "empty.log"
    bad.write_bytes(b"")
    assert "Cannot analyse" in analyze(client, model_dir, upload=handle_file(str(bad)))[0]
    assert not old.exists() and recent.exists()
    assert set(root.iterdir()) == before  # the failed analysis left nothing behind
    analyze(client, model_dir, pasted=planted_log(30), window="sliding:10:10")
    fresh = set(root.iterdir()) - before
    assert len(fresh) == 1 and (fresh.pop() / "logllm_results.csv").is_file()


def test_notes_name_the_uploaded_file_never_a_server_path(server, model_dir, tmp_path):
    """Issue 17 (13): notes showed the server's temporary path; archives are read as detect reads them."""
    import zipfile

    url, _, server_tmp = server
    client = Client(url, verbose=False)
    log = tmp_path / "mylog.log"
    log.write_bytes(b"\0" * 50 + "résumé sent\n".encode("latin-1") * 4 + b"\n" + planted_log(20).encode())
    summary = analyze(client, model_dir, upload=handle_file(str(log)), window="sliding:10")[0]
    notes = summary.split("\n\n", 1)[1]   # after the counts line (which names the model the server was given)
    assert "(first at mylog.log:1)" in notes and "blank line(s) were skipped (line numbers still count them) " \
        "(first at mylog.log:5)" in notes
    assert str(server_tmp) not in notes and "gradio" not in notes and "/tmp" not in notes
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner.log", planted_log(20))
    summary = analyze(client, model_dir, upload=handle_file(str(archive)), window="sliding:10")[0]
    assert "**2 windows**" in summary and "/tmp" not in summary.split("\n\n", 1)[-1]


def test_the_api_cannot_name_a_model_folder_or_lift_the_limits(server, model_dir, tmp_path):
    """Issue 30 (3): `/analyze` took `model` and `max_mb` from the request, so a client could make the server load
    any folder on its disk and lift the size limit. Models and limits are the server's now; the page shows no path."""
    url, log, _ = server
    client = Client(url, verbose=False)
    other = tmp_path / "elsewhere"
    other.mkdir()
    for asked in (str(other), model_dir, "../../etc"):   # even the server's own model, when named by its path
        try:
            summary = client.predict(None, planted_log(30), None, asked, "auto", "sliding:10:10", None,
                                     api_name="/analyze")[0]
        except Exception as err:  # gradio's own check of the dropdown's choices may refuse it first
            summary = str(err)
        assert "**3 windows**" not in summary, summary
        assert "unknown model" in summary or "not in the list of choices" in summary, summary
    loaded = [line for line in log.read_text().splitlines() if str(other) in line and "list of choices" not in line]
    assert not loaded, loaded                                               # never loaded
    too_big = "x" * int(MAX_MB * 1e6 + 10)
    try:   # the request has no limit to send: an 8th value (the old max_mb) is refused or ignored, never obeyed
        summary = client.predict(None, too_big, None, None, "auto", "", None, 1000.0, api_name="/analyze")[0]
        assert "the limit is 0.5 MB" in summary, summary
    except AssertionError:
        raise
    except Exception:  # noqa: S110 - refused by gradio_client: not obeyed either
        pass
    assert "the limit is 0.5 MB" in analyze(client, model_dir, pasted=too_big)[0]
    # the page's model dropdown offers names, never the model's path on the server
    config = json.dumps(client.config)
    assert model_dir not in config and str(Path(model_dir).parent) not in config
    dropdown = next(c for c in client.config["components"] if c.get("props", {}).get("elem_id") == "model")
    assert dropdown["props"]["choices"] and all(not str(choice[0]).startswith("/")
                                                 for choice in dropdown["props"]["choices"])
    name = dropdown["props"]["value"]
    summary = client.predict(None, planted_log(30), None, name, "auto", "sliding:10:10", None, api_name="/analyze")[0]
    assert "**3 windows**, **1 anomalous**" in summary and model_dir not in summary, summary


def _gzip_bomb(path: Path, mb: float) -> Path:
    """A few KB of gzip that decompress to `mb` MB of log lines: one compressed member, repeated (gzip allows many)."""
    import gzip

    chunk = gzip.compress(b"2026-01-01 00:00:00 INFO the same line again and again\n" * 20_000, 9)  # 1.1 MB each
    path.write_bytes(chunk * int(mb / 1.1 + 1))
    return path


def test_a_decompression_bomb_is_refused_while_others_are_served(server, model_dir, tmp_path):
    """Issue 30 (2): a small .gz of a GiB of lines never returned and grew the server to 14 GB. Its content is
    counted against the server's --max-decompressed-mb before any line is parsed; a normal request sent at the
    same time is answered within 10 s."""
    import time

    url, _, server_tmp = server
    bomb = _gzip_bomb(tmp_path / "bomb.log.gz", 100)
    assert bomb.stat().st_size < MAX_MB * 1e6   # the upload limit does not see it
    client = Client(url, verbose=False)
    started = time.monotonic()
    bombed = client.submit(handle_file(str(bomb)), "", None, None, "auto", "", None, api_name="/analyze")
    normal = Client(url, verbose=False).submit(None, planted_log(30), None, None, "auto", "sliding:10:10", None,
                                               api_name="/analyze")
    summary = normal.result(timeout=60)[0]
    assert "**3 windows**" in summary and time.monotonic() - started < 10, summary
    refused = bombed.result(timeout=60)[0]
    assert f"bomb.log.gz: decompresses to more than {MAX_DECOMPRESSED_MB:g} MB" in refused, refused
    assert "--max-decompressed-mb" in refused and str(server_tmp) not in refused


def test_the_threshold_field_empty_or_bad(server, model_dir):
    """Issue 30 (4): an empty threshold is the model's own operating point, a bad one a message (not a trace)."""
    client = Client(url := server[0], verbose=False)
    summary = analyze(client, model_dir, pasted=planted_log(30), window="sliding:10:10", threshold="")[0]
    assert "(given)" not in summary and "at threshold 0.5 (default 0.5" in summary, summary
    summary = analyze(Client(url, verbose=False), model_dir, pasted=planted_log(30), threshold="high")[0]
    assert "threshold 'high' is not a number between 0 and 1" in summary, summary


def test_a_request_past_the_time_limit_is_stopped_with_a_message(model_dir, monkeypatch):
    """Issue 30 (2): the per-request time limit (`logllm serve --request-timeout-s`) stops reading and scoring."""
    from logllm.space import app

    monkeypatch.setattr(app, "_SETTINGS", app.ServerSettings(request_timeout_s=1e-9))
    outputs = app.analyze(None, planted_log(30), None, model_dir, "auto", "sliding:10:10", None,
                          progress=lambda *a, **k: None)
    assert "stopped after 1e-09 s, this server's time limit per request" in outputs[0], outputs[0]
    monkeypatch.setattr(app, "_SETTINGS", app.ServerSettings(request_timeout_s=60))
    outputs = app.analyze(None, planted_log(30), None, model_dir, "auto", "sliding:10:10", None,
                          progress=lambda *a, **k: None)
    assert "**3 windows**" in outputs[0]


def test_model_names_never_show_a_server_path(tmp_path, monkeypatch):
    """Issue 30 (3): the dropdown showed the model's folder, e.g. a path in the server's Hub cache."""
    from logllm.space import app

    monkeypatch.chdir(tmp_path)
    local = tmp_path / "runs" / "bgl" / "model"
    local.mkdir(parents=True)
    cached = "/root/.cache/huggingface/hub/models--me--m/snapshots/0123abc"
    named = app.server_models([str(local), cached, "me/logllm-bgl", "/srv/a/model", "/srv/b/model"])
    assert named == {"runs/bgl/model": str(local), "0123abc": cached, "me/logllm-bgl": "me/logllm-bgl",
                     "a/model": "/srv/a/model", "b/model": "/srv/b/model"}
    config = json.dumps(app.build_demo(app.ServerSettings(models=named)).get_config_file(), default=str)
    assert "/root" not in config and "/srv" not in config and str(tmp_path) not in config
    assert "0123abc" in config
    config = json.dumps(app.build_demo(app.ServerSettings()).get_config_file(), default=str)  # no model: a hint
    assert "This server has no trained model yet" in config and str(tmp_path) not in config


def test_accept_on_a_model_without_a_template_index_is_a_message_in_the_page(server, model_dir):
    """Issue 31: the served trained tiny model has no template index, so "Accept as normal" says why, with the
    model's name (not its path), and writes no ledger."""
    url, _, _ = server
    client = Client(url, verbose=False)
    summary = client.predict(None, planted_log(30), None, None, "auto", "sliding:10:10", None, api_name="/analyze")[0]
    assert "**1 anomalous**" in summary, summary
    message = client.predict(PLANTED, "", api_name="/accept")
    assert message.startswith("**Cannot accept.**") and "has no template index" in message, message
    assert model_dir not in message
    assert not (Path(model_dir) / "accepted.json").exists()
