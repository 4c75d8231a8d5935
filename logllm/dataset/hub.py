"""Write windowed splits as a Hugging Face dataset repo folder, and push it.

Layout (contract 2)::

    out/
      README.md                 # YAML ``configs:`` (one per dataset/windowing) + dataset card
      bgl_sliding_100_100/
        train.parquet  validation.parquet  test.parquet
        dataset_info.json       # statistics, build settings, build report (feeds the card)

``datasets.load_dataset("out", "bgl_sliding_100_100")`` loads it; logllm itself reads a local folder with
``read_dataset_folder`` (the parquet files as they are now, never a ``datasets`` cache copy that a rebuild left
stale). Exporting a second config into the same folder keeps the first: the card is regenerated from every config's
``dataset_info.json``. Building a config that is already there is refused unless ``overwrite`` is set (``logllm
data build --overwrite``), so two builds never silently replace each other. Writes are atomic (``logllm.atomic``):
a failed build leaves the previous config folder and card as they were.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from logllm.logs.errors import BuildReport
from logllm.dataset.features import SPLITS, WINDOW_FEATURES, windows_to_dataset

__all__ = ["export_dataset_repo", "config_folder", "check_config_free", "read_dataset_folder", "write_info", "write_card", "prepare_output", "nonempty_splits",
           "split_statistics", "render_dataset_card", "push_dataset_repo",
           "LOGHUB_LICENSE", "LOGHUB_CITATION", "LOGLLM_CITATION"]

logger = logging.getLogger(__name__)

INFO_FILE = "dataset_info.json"

LOGHUB_LICENSE = """The datasets are freely available for research or academic work, subject to the following
condition: For any usage or distribution of the loghub datasets, please refer to the loghub
repository URL (https://github.com/logpai/loghub) and cite the following loghub paper where
applicable.

Jieming Zhu, Shilin He, Pinjia He, Jinyang Liu, Michael R. Lyu. Loghub: A Large Collection of
System Log Datasets for AI-driven Log Analytics. In ISSRE, 2023.

The above license notice shall be included in all copies of the datasets."""

LOGHUB_CITATION = """@inproceedings{Loghub,
  author    = {Jieming Zhu and Shilin He and Pinjia He and Jinyang Liu and Michael R. Lyu},
  title     = {Loghub: {A} Large Collection of System Log Datasets for AI-driven Log Analytics},
  booktitle = {IEEE International Symposium on Software Reliability Engineering (ISSRE)},
  year      = {2023}
}"""

LOGLLM_CITATION = """@article{guan2024logllm,
  author  = {Wei Guan and Jian Cao and Shiyou Qian and Jianqi Gao and Chun Ouyang},
  title   = {LogLLM: Log-based Anomaly Detection Using Large Language Models},
  journal = {arXiv preprint arXiv:2411.08561},
  year    = {2024}
}"""


def split_statistics(splits: Mapping[str, Any]) -> dict[str, Any]:
    """Per split: windows, anomalous windows, lines, anomalous lines (the paper's Table I numbers)."""
    stats: dict[str, Any] = {}
    for name in SPLITS:
        rows = splits.get(name)
        if rows is None:
            continue
        labels = list(rows["label"]) if hasattr(rows, "column_names") else [r["label"] for r in rows]
        line_labels = rows["line_labels"] if hasattr(rows, "column_names") else [r["line_labels"] for r in rows]
        stats[name] = {
            "windows": len(labels),
            "anomalous_windows": sum(1 for x in labels if x == 1),
            "unknown_windows": sum(1 for x in labels if x == -1),
            "lines": sum(len(x) for x in line_labels),
            "anomalous_lines": sum(sum(1 for y in x if y == 1) for x in line_labels),
        }
    return stats


def _to_dataset(rows: Any):
    if hasattr(rows, "column_names"):
        return rows.cast(WINDOW_FEATURES) if rows.features != WINDOW_FEATURES else rows
    return windows_to_dataset(list(rows))


def prepare_output(output_dir: str | Path) -> tuple[Path, bool]:
    """The dataset folder to write into (created if missing) and whether it was created now.

    A path that is a file is refused with a clear message, before any work.
    """
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output {out} is a file; name a folder for the dataset")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return out, created


def check_config_free(output_dir: str | Path, config_name: str, overwrite: bool = False) -> None:
    """Refuse to build ``config_name`` into ``output_dir`` when a build of it is already there, unless ``overwrite``.

    Called before any work (``logllm data build``) and again when the files are written: a second build of one
    config (other input, other settings) would otherwise replace the first without a word.
    """
    folder = Path(output_dir) / config_name
    if overwrite or not folder.exists():
        return
    what = ""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        windows = sum(s["windows"] for s in info["statistics"].values())
        what = f" ({windows:,} windows from {info.get('source') or 'earlier input'}, {info.get('log_lines', '?')} lines)"
    raise ValueError(f"{folder}: config {config_name!r} is already built there{what}; pass --overwrite to replace it, "
                     "or --config-name NAME / another --output to keep both")


@contextlib.contextmanager
def config_folder(output_dir: str | Path, config_name: str, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder to fill with one config's files; it takes the place of ``output_dir/config_name`` and the
    repo card is rewritten only when the block succeeds (``logllm.atomic``).

    A config already built there is refused unless ``overwrite`` (``check_config_free``). A failed build leaves the
    previous config loadable, and removes ``output_dir`` again if it made it and left it empty.
    """
    from logllm.atomic import atomic_folder

    check_config_free(output_dir, config_name, overwrite)
    out, created = prepare_output(output_dir)
    try:
        with atomic_folder(out / config_name) as folder:
            yield folder
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    write_card(out)


def nonempty_splits(sizes: Mapping[str, int], report: BuildReport | None = None) -> list[str]:
    """The splits (by window count) to write: an empty validation/test split is left out with a note,
    an empty train split is an error.

    A small input (one line, one huge line) can leave a split without a window; such a split is
    not written (``datasets`` cannot load an empty parquet of this schema), and the note says so.
    """
    total = sum(sizes.values())
    if not sizes.get("train"):
        raise ValueError(f"no training windows: the input made {total} window(s) in all ({dict(sizes)}); give more "
                         "log lines, smaller windows (--window-size/--step or --time-length), or a smaller --test-size")
    for name, n in sizes.items():
        if not n and report is not None:
            report.note(f"the {name} split has no windows (the input made {total} in all), so it is not written; "
                        "give more input or smaller windows for one")
    return [name for name, n in sizes.items() if n]


def export_dataset_repo(
    splits: Mapping[str, Any],
    output_dir: str | Path,
    *,
    config_name: str,
    info: Mapping[str, Any] | None = None,
    report: BuildReport | None = None,
    default: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``splits`` (a ``DatasetDict`` or ``{split: list of window rows}``) under ``output_dir/config_name``.

    ``info`` describes the build (``dataset``, ``source``, ``windowing``, ``preprocessing``,
    ``split_method``, ``seed``, ``log_lines``, ``synthetic`` ...); statistics and the build
    report are added, saved as ``dataset_info.json`` and rendered into ``README.md``. The config
    folder is written beside its place and swapped in at the end (``logllm.atomic``): a build that
    fails leaves the previous one loadable. Empty splits are left out (``drop_empty_splits``). A config already in
    ``output_dir`` is replaced only with ``overwrite`` (``check_config_free``).
    """
    with config_folder(output_dir, config_name, overwrite) as folder:
        keep = nonempty_splits({name: len(rows) for name, rows in splits.items()}, report)
        splits = {name: splits[name] for name in keep}
        written = []
        for name in SPLITS:
            if name not in splits:
                continue
            dataset = _to_dataset(splits[name])
            dataset.to_parquet(str(folder / f"{name}.parquet"))
            written.append(name)
            logger.info("wrote %s/%s.parquet (%d windows)", config_name, name, len(dataset))
        write_info(folder, config_name, written, split_statistics(splits), info=info, report=report, default=default)
    return Path(output_dir)


def write_info(folder: str | Path, config_name: str, splits: Sequence[str], statistics: Mapping[str, Any], *,
               info: Mapping[str, Any] | None = None, report: BuildReport | None = None,
               default: bool | None = None) -> None:
    """``dataset_info.json`` of one config (statistics, build settings, build report) into ``folder``."""
    record = dict(info or {})
    record.update(config_name=config_name, splits=list(splits), statistics=dict(statistics))
    if report is not None:
        record["build_report"] = report.to_dict()
    if default is not None:
        record["default"] = default
    (Path(folder) / INFO_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")


def write_card(output_dir: str | Path) -> Path:
    """Regenerate ``README.md`` from every config's ``dataset_info.json`` (atomically)."""
    from logllm.atomic import atomic_file

    out = Path(output_dir)
    with atomic_file(out / "README.md", "w", encoding="utf-8") as handle:
        handle.write(render_dataset_card(out))
    return out


def _load_infos(out: Path) -> list[dict[str, Any]]:
    infos = []
    for path in sorted(out.glob(f"*/{INFO_FILE}")):
        if path.parent.name.startswith("."):  # a build in progress (logllm.atomic)
            continue
        infos.append(json.loads(path.read_text(encoding="utf-8")))
    return infos


def _card_configs(folder: Path) -> list[dict[str, Any]]:
    """The ``configs:`` of a dataset folder's README YAML header ([] without a README or a header)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return []
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return []
    header = yaml.safe_load(text.split("---", 2)[1]) or {}
    return list(header.get("configs") or [])


def _split_files(folder: Path, data_files: Any) -> dict[str, list[Path]]:
    """``data_files`` of a README config (a path/glob, a list of them, or ``[{split, path}]``) -> split -> files."""
    entries = data_files if isinstance(data_files, list) else [data_files]
    found: dict[str, list[Path]] = {}
    for entry in entries:
        split, patterns = (entry.get("split", "train"), entry["path"]) if isinstance(entry, dict) else ("train", entry)
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            matched = sorted(folder.glob(pattern))
            if not matched:
                raise ValueError(f"{folder}: README config names {pattern} for split {split}, and there is no such file")
            found.setdefault(split, []).extend(matched)
    return found


def _folder_split_files(folder: Path, config: str | None) -> tuple[str, dict[str, list[Path]]]:
    """The config to read (``config``, else the default or only one) and its parquet files per split."""
    configs = _card_configs(folder)
    if not configs:
        from datasets.data_files import get_data_patterns

        if config not in (None, "default"):
            raise ValueError(f"{folder}: no config {config!r} (its README declares no configs)")
        found = {}
        for split, globs in get_data_patterns(str(folder)).items():   # the split names datasets recognises
            files = {p for pattern in globs for p in folder.glob(pattern)
                     if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
            if files:
                found[str(split)] = sorted(files)
        return "default", found
    names = [c["config_name"] for c in configs]
    if config is None:
        defaults = [c for c in configs if c.get("default")]
        if not defaults and len(configs) > 1:
            raise ValueError(f"{folder}: holds configs {', '.join(names)}; name one (--dataset_config / --config)")
        chosen = (defaults or configs)[0]
    else:
        chosen = next((c for c in configs if c["config_name"] == config), None)
        if chosen is None:
            raise ValueError(f"{folder}: no config {config!r}; it holds {', '.join(names)}")
    return chosen["config_name"], _split_files(folder, chosen.get("data_files", []))


def read_dataset_folder(folder: str | Path, config: str | None = None) -> Any:
    """One config of a local dataset folder as a ``DatasetDict``, read from its parquet files as they are now.

    ``datasets.load_dataset(folder, config)`` keys its cache copy on the config name, not on the files, so a folder
    rebuilt with other input loaded the old rows (stack-notes, datasets 5.2). Reading the parquet files directly
    (features from their schema, as ``datasets`` wrote them) is always current and writes no cache copy; the
    windows are held in memory (Arrow), as training and evaluation use them anyway.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict, NamedSplit
    from datasets.table import InMemoryTable

    folder = Path(folder)
    name, files = _folder_split_files(folder, config)
    if not files:
        raise ValueError(f"{folder}: no data files for config {name!r}")
    splits = {}
    for split, paths in files.items():
        not_parquet = [p.name for p in paths if p.suffix != ".parquet"]
        if not_parquet:
            raise ValueError(f"{folder} ({name}): expected parquet files, found {', '.join(not_parquet)}")
        try:
            tables = [pq.read_table(p) for p in paths]
        except (OSError, pa.ArrowException) as error:
            raise ValueError(f"{folder} ({name}): cannot read {split} parquet: {error}") from error
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
        splits[split] = Dataset(InMemoryTable(table), split=NamedSplit(split))
    return DatasetDict(splits)


def _yaml_header(infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    defaults = [i for i in infos if i.get("default")]
    default_name = (defaults[-1] if defaults else infos[0])["config_name"] if infos else None
    configs = []
    for info in infos:
        entry: dict[str, Any] = {
            "config_name": info["config_name"],
            "data_files": [{"split": s, "path": f"{info['config_name']}/{s}.parquet"} for s in info["splits"]],
        }
        if info["config_name"] == default_name:
            entry["default"] = True
        configs.append(entry)
    synthetic = all(i.get("synthetic") for i in infos)
    header: dict[str, Any] = {
        "pretty_name": "logllm windows: " + ", ".join(i["config_name"] for i in infos),
        "license": "apache-2.0" if synthetic else "other",
        "task_categories": ["text-classification"],
        "tags": ["logs", "anomaly-detection", "log-anomaly-detection", "loghub" if not synthetic else "synthetic", "logllm"],
        "configs": configs,
    }
    if not synthetic:
        header["license_name"] = "loghub"
        header["license_link"] = "https://github.com/logpai/loghub/blob/master/LICENSE"
    return header


def _table_one(infos: Sequence[dict[str, Any]]) -> str:
    rows = ["| Config | #Log lines | #Windows | Train windows | Train anomalies | Validation windows | "
            "Validation anomalies | Test windows | Test anomalies |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for info in infos:
        stats = info["statistics"]
        total = sum(s["windows"] for s in stats.values())
        cells = [info["config_name"], f"{info.get('log_lines', 0):,}", f"{total:,}"]
        for name in SPLITS:
            s = stats.get(name, {"windows": 0, "anomalous_windows": 0})
            pct = f" ({100 * s['anomalous_windows'] / s['windows']:.1f}%)" if s["windows"] else ""
            cells += [f"{s['windows']:,}", f"{s['anomalous_windows']:,}{pct}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _config_section(info: dict[str, Any]) -> str:
    keys = ("dataset", "source", "windowing", "preprocessing", "split_method", "test_size", "validation_size",
            "seed", "beta", "command")
    lines = [f"### `{info['config_name']}`", ""]
    lines += [f"- **{k}**: `{info[k]}`" for k in keys if info.get(k) not in (None, "")]
    report = info.get("build_report", {}).get("counts", {})
    if report:
        lines += ["", "Build report (every read, repaired or skipped line is counted):", "",
                  "| counter | value |", "|---|---:|"]
        lines += [f"| {k} | {v:,} |" for k, v in report.items()]
    for note in info.get("build_report", {}).get("notes", []):
        lines.append(f"\n> {note}")
    if info.get("difficulty"):
        lines += ["", _difficulty_section(info["difficulty"])]
    return "\n".join(lines)


def _difficulty_section(difficulty: dict[str, Any]) -> str:
    lines = ["#### How hard is it? (measured on the test split, rules fit on train)", "",
             "| method | precision | recall | F1 |", "|---|---:|---:|---:|"]
    for name, m in difficulty.get("methods", {}).items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |")
    if difficulty.get("per_category_recall"):
        lines += ["", "Recall per anomaly kind (test windows):", "", "| kind | windows | " +
                  " | ".join(difficulty["methods"]) + " |", "|---|---:|" + "---:|" * len(difficulty["methods"])]
        for kind, row in difficulty["per_category_recall"].items():
            lines.append(f"| {kind} | {row['windows']} | " + " | ".join(f"{row[m]:.2f}" for m in difficulty["methods"]) + " |")
    if difficulty.get("notes"):
        lines += ["", difficulty["notes"]]
    return "\n".join(lines)


def render_dataset_card(output_dir: str | Path) -> str:
    """The README.md for every config in ``output_dir`` (YAML header + card)."""
    out = Path(output_dir)
    infos = _load_infos(out)
    header = yaml.safe_dump(_yaml_header(infos), sort_keys=False, allow_unicode=True)
    synthetic = all(i.get("synthetic") for i in infos)
    default = next((c["config_name"] for c in _yaml_header(infos)["configs"] if c.get("default")), "")
    body = [
        "# Log anomaly detection windows (LogLLM format)", "",
        "Labeled windows of log lines for log-based anomaly detection, built with "
        "logllm's `logllm data build`. Each row is one window (an HDFS block "
        "session, or a sliding / time window) with the preprocessed lines the model reads, the original "
        "lines, source line numbers and per-line labels.", "",
        "```python", "from datasets import load_dataset", "",
        f'ds = load_dataset("path/or/repo", "{default}")', "```", "",
        "## Statistics (layout of LogLLM's Table I)", "", _table_one(infos), "",
        "A window is anomalous when any of its lines is (HDFS: when its block is labeled Anomaly).",
        "Random splits are seeded and keep windows that share a line in one split; chronological "
        "splits put every test window after every training window (validation is the end of the "
        "training part).", "",
        "## Columns", "",
        "| column | meaning |", "|---|---|",
        "| `window_id` | block id for sessions, `file:first-last` line range for sliding windows, `file:first-last@tSTART` for time windows |",
        "| `source` | source file (`archive:member` inside archives) |",
        "| `lines` | preprocessed line texts in log order (what the model reads) |",
        "| `raw_lines` | the same lines' original message text |",
        "| `line_numbers` | 1-based line numbers in `source` |",
        "| `line_labels` | per-line label: 1 anomalous, 0 normal, -1 unknown |",
        "| `label` | window label: 1 anomalous, 0 normal, -1 unknown |",
        "| `categories` | distinct alert categories / synthetic anomaly kinds in the window |",
        "| `start_time`, `end_time` | first / last timestamp (POSIX seconds), if the format has one |", "",
        "## Configurations", "",
        "\n\n".join(_config_section(i) for i in infos), "",
        "## Source and licence", "",
    ]
    any_synthetic = any(i.get("synthetic") for i in infos)
    if any_synthetic:
        from logllm.logs.anomaly_kinds import ANOMALY_KINDS
        from logllm.logs.synthetic import GENERATED_KINDS

        body += ["Synthetic configs: logs generated by `logllm.logs.synthetic` (HDFS-like / BGL-like formats) "
                 "with injected anomalies; a line's kind is its category:", ""]
        body += [f"- `{kind}`: {ANOMALY_KINDS[kind]}" for kind in GENERATED_KINDS]
        body += ["", "No real log data is included in them. Licence: Apache-2.0.", ""]
    if not synthetic:
        body += ["Configs built from the Loghub datasets (https://github.com/logpai/loghub; full data on Zenodo, "
                 "https://doi.org/10.5281/zenodo.1144100). Loghub licence notice:", "", "```",
                 LOGHUB_LICENSE, "```", ""]
    body += ["## Citation", "", "```bibtex"]
    body += ([] if synthetic else [LOGHUB_CITATION, ""]) + [LOGLLM_CITATION, "```", ""]
    return f"---\n{header}---\n\n" + "\n".join(body)


def push_dataset_repo(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False,
                      revision: str | None = None, commit_message: str = "Upload logllm dataset") -> str:
    """Create the dataset repo if needed and upload ``folder``; return the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", revision=revision,
                             commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
