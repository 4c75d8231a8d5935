"""Issue 31 in the Space: "Accept as normal" on a flagged line, through a real `logllm serve` on 127.0.0.1 driven by
gradio_client. The served model is a `logllm learn` folder (tiny preset, so learning takes about a second) whose
template index flags the one new line of `test_learn.new_log`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import start_server, stop_server  # noqa: E402
from test_learn import NEW_LINE, new_log, quiet_log  # noqa: E402

from logllm.modeling.templates_logllm import LEDGER_FILE  # noqa: E402


def learn_tiny(folder: Path) -> Path:
    """`logllm learn` on a quiet log with the tiny preset: a model folder with a template index."""
    from logllm.commands import learn
    from logllm.modeling.presets import build_tiny

    log = folder / "quiet.log"
    log.write_text(quiet_log(), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("logllm.scoring.learn.build_learner", lambda seed=0, **_: build_tiny(seed=seed))
        assert learn.main([str(log), "--output", str(folder / "learned"), "--no-progress"]) == 0
    return folder / "learned"


@pytest.fixture(scope="module")
def learned_server(tmp_path_factory):
    model = learn_tiny(tmp_path_factory.mktemp("accept-model"))
    proc, url = start_server(str(model), tmp_path_factory.mktemp("accept") / "server.log")
    yield url, model
    stop_server(proc)


def detect(client: Client, log: Path) -> tuple:
    return client.predict(handle_file(str(log)), "", None, None, "auto", "sliding:20", "", api_name="/analyze")


def test_accepting_a_flagged_template_clears_the_window_on_the_next_detection(learned_server, tmp_path):
    url, model = learned_server
    log = tmp_path / "new.log"
    log.write_text(new_log(), encoding="utf-8")
    client = Client(url, verbose=False)
    summary, table, *_, jsonl = detect(client, log)
    assert "**1 anomalous**" in summary, summary
    flagged = [row for row in table["data"] if row[5] == "anomalous"]
    assert [row[1] for row in flagged] == ["new.log:21-40"] and flagged[0][6] == "new template"

    # a template the detection did not flag is refused, and nothing is written
    message = client.predict("kernel: eth0 link up speed <*> Mbps", "", api_name="/accept")
    assert message.startswith("**Cannot accept.**") and "not a template of a flagged line" in message, message
    assert not (model / LEDGER_FILE).exists()
    # the page offers the flagged line's template (the server's state from this session's detection)
    rows = [json.loads(row) for row in Path(jsonl).read_text().splitlines()]
    template = next(row for row in rows if row["anomalous"])["suspicious_lines"][0]["template"]
    message = client.predict(template, "known disk noise", api_name="/accept")
    assert message.startswith("Accepted") and "ledger entry 1" in message, message
    assert str(model) not in message and "/tmp" not in message          # the model by name, not its path
    entry = json.loads((model / LEDGER_FILE).read_text())["entries"][0]
    assert (entry["kind"], entry["text"], entry["note"]) == ("template", template, "known disk noise")
    assert "already accepted" in client.predict(template, "", api_name="/accept")

    summary, table, *_ = detect(client, log)
    assert "**0 anomalous**" in summary, summary
    assert not [row for row in table["data"] if row[5] == "anomalous"]


def test_accept_before_any_detection_says_so(learned_server):
    url, model = learned_server
    message = Client(url, verbose=False).predict(NEW_LINE, "", api_name="/accept")
    assert message.startswith("**Cannot accept.** Run a detection first"), message


def test_hub_model_and_read_only_folder_give_a_message_not_a_trace(tmp_path, monkeypatch):
    """In process: a Hub id has no local ledger; a folder the server cannot write names the folder by its label."""
    from logllm.space import app

    state = {"model": "someone/some-model", "templates": {"a <*>": "line 1: a b"}, "results": {}}
    assert "is a Hub model" in app.accept_template(state, "a <*>", "")
    model = learn_tiny(tmp_path)

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("logllm.atomic.atomic_file", refuse)
    state["model"] = str(model)
    message = app.accept_template(state, "a <*>", "")
    assert message == "**Cannot accept.** the model folder `learned` cannot be written (Permission denied)", message
    assert not (model / LEDGER_FILE).exists()
