"""LogLLM demo: upload a log (or paste one, or pick a synthetic example) and see what is anomalous.

Runs as a Hugging Face Space (``app_file: app.py``) and locally with ``logllm serve``. The
model is loaded once per model name and shared by every request; the queue lets several users
wait their turn instead of fighting over the CPU.

Nothing a request sends is trusted to choose what the server loads or how much it works: the models
(``--model`` / ``$LOGLLM_MODEL``, plus ``runs/*/model``) and the limits (upload size, decompressed size, seconds per
request) are the server's, from its command line or environment (``ServerSettings``). A request picks a model
only by the name the page shows, from that list; the page never shows a model's path on the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from logllm.report.detection import report_summary, unfamiliar_message, write_results  # noqa: E402
from logllm.scoring.detector import detect_path, resolve_model  # noqa: E402
from logllm.dataset.user_logs import INPUT_FORMATS  # noqa: E402
from logllm.logs.errors import DetectionInputError  # noqa: E402
from logllm.scoring.detector import DetectionReport, Detector, WindowResult  # noqa: E402

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).with_name("examples")
DEFAULT_MAX_MB = 20.0
DEFAULT_MAX_DECOMPRESSED_MB = 100.0   # a .gz/.zip upload's content; a small .gz can hold a GiB of lines
DEFAULT_REQUEST_TIMEOUT_S = 60.0
MAX_TABLE_ROWS = 2000
TOP_K = 3
# One folder per analysis under WORK_ROOT holds its downloads; a Space runs for weeks, so folders older than
# WORK_TTL_S are removed when the next analysis starts (Gradio serves its own copies, cleared by delete_cache).
WORK_ROOT = Path(tempfile.gettempdir()) / "logllm-space"
WORK_TTL_S = 3600.0
TABLE_HEADERS = ["rank", "window", "source", "lines", "probability", "status", "why", "label", "top line"]

_DETECTORS: dict[str, Detector] = {}
_LOAD_LOCK = threading.Lock()
_SCORE_LOCK = threading.Lock()  # torch on a small CPU: one scoring pass at a time is fastest


@dataclass
class ServerSettings:
    """What the server decides, never a request: the models a request may pick (by the name shown -> folder or Hub
    id; the first is the default) and the limits."""

    models: dict[str, str] = field(default_factory=dict)
    max_mb: float = DEFAULT_MAX_MB
    max_decompressed_mb: float = DEFAULT_MAX_DECOMPRESSED_MB
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    @property
    def default_model(self) -> str | None:
        return next(iter(self.models.values()), None)


_SETTINGS = ServerSettings()   # set by `launch` (`logllm serve` / the Space) from the command line and environment


class RequestTimeout(RuntimeError):
    """A request ran past the server's per-request time limit (not an input error: no file of it is 'skipped')."""


def get_detector(model: str | None) -> Detector:
    """Load a model the first time it is asked for, then reuse it for every request. No model named: the server's
    default model, else the quickstart model / $LOGLLM_MODEL."""
    name = resolve_model(model or _SETTINGS.default_model)
    with _LOAD_LOCK:
        if name not in _DETECTORS:
            _DETECTORS[name] = Detector.load(name)
        return _DETECTORS[name]


def example_files() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.log"))


def model_choices(default: str | None) -> list[str]:
    """The default model first, then any other trained models found under runs/."""
    found = [str(p.parent) for p in sorted(Path("runs").glob("*/model/config.json"))]
    choices = [c for c in [default, *found] if c]
    return list(dict.fromkeys(choices))


def model_label(model: str) -> str:
    """The name a page shows for a model: a Hub id as is, a folder under the working directory by its relative path,
    any other folder by its last two parts (never the server's cache or home path)."""
    path = Path(model).expanduser()
    if not path.exists() and model.count("/") == 1 and not model.startswith((".", "/", "~")):
        return model   # a Hub id
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return "/".join(path.parts[-2:]) if path.name == "model" else path.name


def server_models(models: list[str]) -> dict[str, str]:
    """Label shown -> model, in order, labels made unique."""
    named: dict[str, str] = {}
    for model in models:
        label, n = model_label(model), 1
        while label in named and named[label] != model:
            n += 1
            label = f"{model_label(model)} ({n})"
        named[label] = model
    return named


# ---------------------------------------------------------------------------------------
# presentation helpers (pure; tested without a browser)
# ---------------------------------------------------------------------------------------
def windows_table(report: DetectionReport) -> pd.DataFrame:
    ranked = sorted(report.results, key=lambda r: (r.ranking if r.ranking is not None else r.score),
                    reverse=True)[:MAX_TABLE_ROWS]
    rows = []
    for rank, result in enumerate(ranked, start=1):
        top = result.suspicious_lines(1, report.novelty_threshold)
        rows.append([
            rank, result.window_id, Path(result.source).name, f"{result.first_line}-{result.last_line}",
            round(result.score, 4), result.status, result.reason or "",
            {1: "anomalous", 0: "normal"}.get(result.label, "unknown"),
            f"{top[0][0]}: {top[0][2][:120]}" if top else "",
        ])
    return pd.DataFrame(rows, columns=TABLE_HEADERS)


def highlighted_lines(result: WindowResult | None, top_k: int = TOP_K,
                      novelty_threshold: float | None = None) -> list[tuple[str, str | None]]:
    """The window's lines; the top-k suspicious lines labelled by where the evidence comes from ("unseen line":
    unlike anything in training; "the model": positive log-odds evidence). Lines with zero or negative evidence are
    never highlighted, however the window scored."""
    if result is None:
        return []
    suspicious = {number: score for number, score, _ in result.suspicious_lines(top_k, novelty_threshold)}
    spans = []
    for i, (number, text) in enumerate(zip(result.line_numbers, result.lines)):
        source = result.evidence_source(i, novelty_threshold) if number in suspicious else None
        if source == "unseen line":
            spans.append((f"{number:>6}  {text}   [unseen line, novelty {suspicious[number]:.3f}]\n", "unseen line"))
        elif source in ("new template", "rare template", "unusual line"):  # models with a template index
            spans.append((f"{number:>6}  {text}   [{source}, novelty {suspicious[number]:.3f}]\n", source))
        elif source == "the model":
            spans.append((f"{number:>6}  {text}   [evidence {suspicious[number]:+.3f} log-odds]\n", "the model"))
        else:
            spans.append((f"{number:>6}  {text}\n", None))
    return spans


def score_figure(report: DetectionReport) -> plt.Figure:
    """Score per window in log order (timeline) next to the score histogram."""
    scores = [r.score for r in report.results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    colors = ["tab:red" if r.anomalous else "tab:blue" for r in report.results]
    left.scatter(range(len(scores)), scores, c=colors, s=12)
    left.axhline(report.threshold, color="black", linestyle="--", linewidth=1)
    left.set(xlabel="window (log order)", ylabel="P(anomalous)", ylim=(-0.02, 1.02), title="Score timeline")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.hist(scores, bins=20, range=(0, 1), color="tab:gray")
    right.axvline(report.threshold, color="black", linestyle="--", linewidth=1, label="threshold")
    right.set(xlabel="P(anomalous)", ylabel="windows", title="Score histogram")
    right.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def label_plots(report: DetectionReport, out_dir: Path) -> tuple[str | None, str | None, str]:
    """Confusion matrix + ROC when every window has a label; otherwise say why there are none."""
    if not report.has_labels:
        return None, None, "The input has no labels, so no confusion matrix or ROC curve."
    import numpy as np

    from logllm.report.metrics import compute_metrics
    from logllm.report.plots import plot_confusion_matrix, plot_roc_curve

    labels = np.array([r.label for r in report.results])
    scores = np.array([r.score for r in report.results])
    cm = plot_confusion_matrix(labels, scores, report.threshold, out_dir / "confusion_matrix.png")
    roc = plot_roc_curve(labels, scores, out_dir / "roc_curve.png")
    m = compute_metrics(labels.tolist(), scores.tolist(), threshold=report.threshold)
    auc = m.get("roc_auc")
    text = (
        f"Against the file's labels: precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
        f"F1 {m['f1']:.3f}" + (f", ROC-AUC {auc:.3f}" if isinstance(auc, float) else "")
    )
    return str(cm), str(roc), text


def summary_markdown(report: DetectionReport) -> str:
    s = report_summary(report)
    text = (
        f"**{s['windows']} windows**, **{s['anomalous_windows']} anomalous**"
        + (f", **{s['unfamiliar_windows']} unfamiliar**" if s.get("unfamiliar_windows") else "")
        + f" at threshold {s['threshold']:g}"
        + (f" ({s['threshold_source']})" if s.get("threshold_source") else "")
        + f" · {s['lines']} lines · format `{s['format']}` · windows `{s['window']}` · {s['seconds']:.2f} s "
        f"· model `{s['model']}`"
    )
    message = unfamiliar_message(report)
    if message:
        text = f"> ⚠️ {message.splitlines()[0]}\n>\n> " + "\n> ".join(f"`{c.strip()}`" for c in message.splitlines()[1:]) \
            + "\n\n" + text
    if s["notes"]:
        text += "\n\n" + "\n".join(f"- {note}" for note in s["notes"])
    return text


# ---------------------------------------------------------------------------------------
# event handlers
# ---------------------------------------------------------------------------------------
def new_work_dir(root: Path = WORK_ROOT, ttl_s: float = WORK_TTL_S) -> Path:
    """A fresh folder for one analysis, after removing the folders of analyses older than ``ttl_s``."""
    root.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - ttl_s
    for old in root.iterdir():
        if old.is_dir() and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=root))


def _input_path(upload: str | None, pasted: str, example: str | None, work: Path, max_mb: float) -> Path:
    if upload:
        return Path(upload)
    if pasted and pasted.strip():
        data = pasted.encode("utf-8")
        if len(data) > max_mb * 1e6:
            raise DetectionInputError(f"pasted text is {len(data) / 1e6:.1f} MB; the limit is {max_mb:g} MB")
        path = work / "pasted.log"
        path.write_bytes(data)
        return path
    if example:
        return EXAMPLES_DIR / Path(example).name
    raise DetectionInputError("Upload a log file, paste some lines, or pick an example first.")


def _display_name(upload: str | None, pasted: str, example: str | None) -> str:
    """What the user calls the input (never the server's temporary path)."""
    if upload:
        return Path(upload).name
    return "pasted.log" if pasted and pasted.strip() else Path(example or "input.log").name


def _error_outputs(message: str) -> tuple[Any, ...]:
    return (
        f"**Cannot analyse this input.** {message}",
        pd.DataFrame(columns=TABLE_HEADERS), [], None, None, None, "", None, None, None,
    )


def parse_threshold(value: Any) -> float | None:
    """The threshold field: empty (or None) means the model's own operating point, else a number in [0, 1]."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        threshold = float("nan")
    if not 0.0 <= threshold <= 1.0:
        raise DetectionInputError(f"threshold {value!r} is not a number between 0 and 1; leave it empty to use the "
                                  "model's own operating point")
    return threshold


def _time_limit(seconds: float):
    """A check that raises ``RequestTimeout`` once ``seconds`` have passed since it was made (0: never)."""
    started = time.monotonic()

    def check() -> None:
        if seconds > 0 and time.monotonic() - started > seconds:
            raise RequestTimeout(f"stopped after {seconds:g} s, this server's time limit per request; try a smaller "
                                 "file or fewer lines, or run `logllm detect` on your own machine for big logs")
    return check


def analyze(
    upload: str | None,
    pasted: str,
    example: str | None,
    model: str | None,
    fmt: str,
    window: str,
    threshold: float | str | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Score one input with ``model`` (a folder or Hub id: callers in this process; the page goes through
    ``analyze_request``) under the server's limits; returns every output of the page (errors become a message,
    never a trace)."""
    from logllm.logs.reader import decompression_limit

    settings = _SETTINGS
    work = new_work_dir()
    path = None
    hidden = {str(m): model_label(str(m)) for m in (model, settings.default_model) if m}
    try:
        threshold = parse_threshold(threshold)
        path = _input_path(upload, pasted, example, work, settings.max_mb)
        progress(0, desc="loading model")
        detector = get_detector(model)
        hidden[str(detector.name)] = model_label(str(detector.name))
        progress(0, desc="reading log")

        def report_progress(done: int, total: int) -> None:
            progress((done, total), desc="scoring windows", unit="windows")

        limit = int(settings.max_decompressed_mb * 1e6) if settings.max_decompressed_mb > 0 else None
        with _SCORE_LOCK, decompression_limit(limit, "the server's --max-decompressed-mb"):
            report = detect_path(
                detector, path, fmt=fmt, window=window or None, threshold=threshold, progress=report_progress,
                max_bytes=int(settings.max_mb * 1e6), source_name=_display_name(upload, pasted, example),
                check=_time_limit(settings.request_timeout_s),
            )
    except (DetectionInputError, RequestTimeout, ValueError, UnicodeError, OSError) as err:
        logger.info("rejected input: %s", err)
        shutil.rmtree(work, ignore_errors=True)
        message = str(err)
        if path is not None:  # show the user's file name, not the server's temporary path
            message = message.replace(str(path), _display_name(upload, pasted, example))
        for where, label in hidden.items():   # nor the model's path on the server
            message = message.replace(where, label)
        return _error_outputs(message)
    except Exception as err:  # the page must stay up whatever the input; log the trace server-side
        logger.exception("analysis failed")
        shutil.rmtree(work, ignore_errors=True)
        return _error_outputs(f"internal error ({type(err).__name__}): {err}")
    report.model = model_label(report.model)
    csv_path = write_results(report.results, work / "logllm_results.csv", TOP_K, report.novelty_threshold)
    jsonl_path = write_results(report.results, work / "logllm_results.jsonl", TOP_K, report.novelty_threshold)
    cm, roc, label_text = label_plots(report, work)
    top = report.flagged[0] if report.flagged else max(report.results, key=lambda r: r.score, default=None)
    state = {"results": {r.window_id: r for r in report.results}, "novelty_threshold": report.novelty_threshold,
             "model": str(detector.name), "templates": flagged_templates(report)}
    return (
        summary_markdown(report), windows_table(report), highlighted_lines(top, TOP_K, report.novelty_threshold),
        score_figure(report) if report.results else None, cm, roc, label_text,
        str(csv_path), str(jsonl_path), state,
    )


def analyze_request(
    upload: str | None,
    pasted: str,
    example: str | None,
    model_name: str | None,
    fmt: str,
    window: str,
    threshold: float | str | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """The page's and the API's ``/analyze``: ``model_name`` is one of the names the server offers (empty: its
    default), never a path; the limits are the server's (``ServerSettings``)."""
    if model_name and model_name not in _SETTINGS.models:
        offered = ", ".join(_SETTINGS.models) or "only its default model"
        return _error_outputs(f"unknown model {model_name!r}; this server offers {offered}")
    model = _SETTINGS.models[model_name] if model_name else _SETTINGS.default_model
    return analyze(upload, pasted, example, model, fmt, window, threshold, progress=progress)


def show_window(state: dict | None, table: pd.DataFrame, evt: gr.SelectData) -> list[tuple[str, str | None]]:
    """Clicking a row shows that window's lines, suspicious ones highlighted."""
    if not state or table is None or len(table) == 0:
        return []
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    window_id = table.iloc[int(row)]["window"]
    return highlighted_lines(state["results"].get(window_id), TOP_K, state.get("novelty_threshold"))


def flagged_templates(report: DetectionReport) -> dict[str, str]:
    """Template -> one of its lines, for the suspicious lines of the flagged windows whose evidence is their template
    (new template, rare template, unusual line): what a visitor may accept as normal. Empty without a template
    index."""
    from logllm.scoring.feedback import TEMPLATE_PARTS

    found: dict[str, str] = {}
    for result in report.flagged:
        if not result.line_parts or not result.line_templates:
            continue
        for part, template, number, text in zip(result.line_parts, result.line_templates, result.line_numbers,
                                                result.lines):
            if part in TEMPLATE_PARTS and template and template not in found:
                found[template] = f"line {number}: {text[:80]}"
    return found


def accept_choices(state: dict | None) -> tuple[Any, str]:
    """After a detection: the flagged lines' templates to pick from, or why there are none."""
    templates = (state or {}).get("templates") or {}
    choices = [(f"{template}   ({example})", template) for template, example in templates.items()]
    if choices:
        note = f"{len(choices)} template(s) behind flagged windows; accepting one treats its lines as normal from " \
               "the next detection on."
    elif state and any(r.line_parts is not None for r in state["results"].values()):
        note = "No flagged window was flagged for a new or rare template: nothing to accept."
    elif state:
        note = "This model has no template index, so lines cannot be accepted as normal here (`logllm learn` makes " \
               "one)."
    else:
        note = ""
    return gr.update(choices=choices, value=choices[0][1] if choices else None), note


def accept_template(state: dict | None, template: str | None, note: str | None) -> str:
    """The page's and the API's ``/accept``: add one flagged template of this visitor's last detection to the ledger
    of the model that detection used (the server's model, never a path or template the request makes up), through
    ``logllm.scoring.feedback.Ledger``. Every refusal is a message for the page."""
    from logllm.scoring.feedback import Ledger

    if not state or not state.get("model"):
        return "**Cannot accept.** Run a detection first, then pick one of its flagged templates."
    model = state["model"]
    label = model_label(model)
    templates = state.get("templates") or {}
    if not Path(model).is_dir():
        return (f"**Cannot accept.** Model `{label}` is a Hub model: a ledger of accepted lines lives in a local model "
                "folder (download it and serve the folder).")
    try:
        ledger = Ledger(model)   # refuses a folder without a template index, by name
        if not template or template not in templates:
            offered = "; ".join(templates) or "none"
            raise DetectionInputError(f"{template!r} is not a template of a flagged line of the last detection "
                                      f"(flagged templates: {offered})")
        added = ledger.add("template", [template], note=(note or "").strip() or None, source="serve (Space page)")
        ledger.save()
    except (DetectionInputError, OSError) as err:
        message = str(err).replace(str(Path(model).resolve()), label).replace(model, label)
        if isinstance(err, OSError):
            message = f"the model folder `{label}` cannot be written ({err.strerror or type(err).__name__})"
        logger.info("accept refused: %s", err)
        return f"**Cannot accept.** {message}"
    if not added:
        return f"`{template}` was already accepted for model `{label}`."
    return (f"Accepted `{template}` as normal for model `{label}` (ledger entry {added[0].id}). Run the detection "
            "again: windows flagged only for it are no longer flagged.")


def window_lines(state: dict | None, window_id: str) -> list[tuple[str, str | None]]:
    """API twin of the row click: the lines of one window by id."""
    if not state:
        return []
    return highlighted_lines(state["results"].get(window_id), TOP_K, state.get("novelty_threshold"))


# ---------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------
def build_demo(settings: ServerSettings | None = None) -> gr.Blocks:
    """The whole page, for the server's ``settings`` (default: the ones `launch` set)."""
    settings = settings or _SETTINGS
    max_mb = settings.max_mb
    model_note = ""
    if not settings.models:   # the reason (with the paths tried) is in the server's log, not on the page
        model_note = ("⚠️ This server has no trained model yet: start it with `logllm serve --model DIR_OR_HUB_ID` "
                      "(or set $LOGLLM_MODEL), or train the offline one with `logllm quickstart --output runs/quickstart`.")
    names = list(settings.models)
    with gr.Blocks(title="LogLLM log anomaly detection", delete_cache=(int(WORK_TTL_S), int(WORK_TTL_S))) as demo:
        gr.Markdown(
            "# LogLLM: find anomalous windows in your logs\n"
            "Upload a log file, paste lines, or pick a synthetic example. Supported formats: HDFS, BGL, "
            "Thunderbird, Liberty, or plain lines (auto-detected). Windows above the threshold are "
            "flagged; click a row to see its lines with the most suspicious ones highlighted."
            + (f"\n\n{model_note}" if model_note else "")
        )
        state = gr.State()
        with gr.Row():
            with gr.Column(scale=2):
                upload = gr.File(label=f"Log file (max {max_mb:g} MB; plain, .gz, .bz2, .zip, .tar)", type="filepath",
                                 elem_id="log-upload")
                pasted = gr.Textbox(label="…or paste log lines", lines=5, max_lines=12, elem_id="log-paste")
                example = gr.Dropdown(
                    choices=[Path(p).name for p in example_files()], value=None,
                    label="…or pick a bundled synthetic example", elem_id="log-example",
                )
            with gr.Column(scale=1):
                model = gr.Dropdown(choices=names, value=names[0] if names else None, allow_custom_value=False,
                                    label="Model", elem_id="model")
                fmt = gr.Dropdown(choices=list(INPUT_FORMATS), value="auto", label="Format")
                window = gr.Textbox(value="", label="Window (empty = format default)",
                                    placeholder="session | sliding:100:100 | time:60", elem_id="window")
                # a Textbox, not gr.Number: a Number field shows and sends 0 when empty, flagging every window
                threshold = gr.Textbox(value="", label="Threshold (empty: the model's own operating point)",
                                       placeholder="empty, or a number between 0 and 1", elem_id="threshold")
                run = gr.Button("Detect anomalies", variant="primary", elem_id="run")
        summary = gr.Markdown(elem_id="summary")
        table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, wrap=True, max_height=420,
                             label="Windows (highest probability first; click a header to sort)",
                             elem_id="windows-table")
        lines = gr.HighlightedText(label="Selected window: suspicious lines highlighted", combine_adjacent=False,
                                   show_legend=True, color_map={"unseen line": "orange", "the model": "red", "new template": "orange",
                                                                 "rare template": "yellow", "unusual line": "purple"},
                                   elem_id="window-lines")
        plot = gr.Plot(label="Scores")
        with gr.Row():
            cm = gr.Image(label="Confusion matrix", type="filepath")
            roc = gr.Image(label="ROC curve", type="filepath")
        label_text = gr.Markdown()
        with gr.Row():
            csv_file = gr.File(label="Results (CSV)")
            jsonl_file = gr.File(label="Results (JSONL)")
        with gr.Group():
            gr.Markdown("### Accept as normal\nA flagged line that is fine? Accept its template: the server adds it "
                        "to its model's ledger (`accepted.json`, as `logllm accept` does) and later detections treat "
                        "its lines as normal.")
            accept_status = gr.Markdown(elem_id="accept-status")
            with gr.Row():
                accept_pick = gr.Dropdown(choices=[], value=None, label="Template of a flagged line",
                                          elem_id="accept-template", scale=3,
                                          # the handler checks the value against this session's flagged templates
                                          allow_custom_value=True)
                accept_note = gr.Textbox(value="", label="Note (why it is normal)", elem_id="accept-note", scale=2)
            accept_button = gr.Button("Accept as normal", elem_id="accept")
        run.click(
            analyze_request, inputs=[upload, pasted, example, model, fmt, window, threshold],
            outputs=[summary, table, lines, plot, cm, roc, label_text, csv_file, jsonl_file, state],
            api_name="analyze",
        ).then(accept_choices, inputs=state, outputs=[accept_pick, accept_status], api_name=False)
        accept_button.click(accept_template, inputs=[state, accept_pick, accept_note], outputs=accept_status,
                            api_name="accept")
        table.select(show_window, inputs=[state, table], outputs=lines)
        window_id = gr.Textbox(visible=False)
        window_id.submit(window_lines, inputs=[state, window_id], outputs=lines, api_name="window_lines")
    return demo


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise SystemExit(f"logllm serve: error: ${name}={os.environ[name]!r} is not a number") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="logllm serve", description="Start the LogLLM Gradio demo. The models and limits are the server's: a "
        "request can neither name a folder to load nor change a limit.")
    parser.add_argument("--model", default=None,
                        help="default model folder or Hub id (default: $LOGLLM_MODEL, else the quickstart model); "
                             "trained models under runs/ are offered too, by name")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-mb", type=float, default=_env_float("LOGLLM_MAX_MB", DEFAULT_MAX_MB),
                        help=f"upload size limit in MB (default $LOGLLM_MAX_MB, else {DEFAULT_MAX_MB:g})")
    parser.add_argument("--max-decompressed-mb", type=float,
                        default=_env_float("LOGLLM_MAX_DECOMPRESSED_MB", DEFAULT_MAX_DECOMPRESSED_MB),
                        help="what a compressed upload (.gz, .bz2, .zip, .tar.*) may decompress to, in MB (default "
                             f"$LOGLLM_MAX_DECOMPRESSED_MB, else {DEFAULT_MAX_DECOMPRESSED_MB:g}; 0 = no limit)")
    parser.add_argument("--request-timeout-s", type=float,
                        default=_env_float("LOGLLM_REQUEST_TIMEOUT_S", DEFAULT_REQUEST_TIMEOUT_S),
                        help="seconds one request may read and score before it is stopped with a message (default "
                             f"$LOGLLM_REQUEST_TIMEOUT_S, else {DEFAULT_REQUEST_TIMEOUT_S:g}; 0 = no limit)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests scored at the same time")
    parser.add_argument("--queue-size", type=int, default=64, help="requests allowed to wait")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """The server's settings: its models (the default first, by the names the page shows) and limits."""
    try:
        default = resolve_model(args.model)
    except DetectionInputError as err:
        logger.warning("no default model: %s", err)
        default = None
    return ServerSettings(models=server_models(model_choices(default)), max_mb=args.max_mb,
                          max_decompressed_mb=args.max_decompressed_mb, request_timeout_s=args.request_timeout_s)


def launch(args: argparse.Namespace, **launch_kwargs: Any) -> gr.Blocks:
    global _SETTINGS
    _SETTINGS = settings_from_args(args)
    try:  # load the default model once, before the first visitor waits for it
        get_detector(None)
    except DetectionInputError as err:
        logger.warning("no default model loaded: %s", err)
    demo = build_demo(_SETTINGS)
    demo.queue(max_size=args.queue_size, default_concurrency_limit=args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=int(args.max_mb * 1e6),
                show_error=False, **launch_kwargs)
    return demo


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
