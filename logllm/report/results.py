"""bench/RESULTS.md from the JSON of actual benchmark runs, next to the papers' published numbers.

Every measured number comes from the results files (written by bench/baselines.py and bench/ablations.py); the only
numbers typed here are the paper's published ones, each cited by table. A missing results file is reported as
"not run", never filled in. Spreads are mean ± sample std over seeds (`logllm.report.summary`).

    from logllm.report.results import render
    Path("bench/RESULTS.md").write_text(render(Path("bench/results")))
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from logllm.report.summary import format_mean_std

PAPER = "Guan et al. 2024, LogLLM (arXiv 2411.08561)"
PAPER_DATASETS = ("HDFS", "BGL", "Liberty", "Thunderbird")

# Published numbers (precision, recall, F1) on the full datasets; Table II of the paper.
PAPER_TABLE_II: dict[str, dict[str, tuple[float, float, float]]] = {
    "LogLLM": {"HDFS": (0.994, 1.000, 0.997), "BGL": (0.861, 0.979, 0.916), "Liberty": (0.992, 0.926, 0.958), "Thunderbird": (0.966, 0.966, 0.966)},
    "NeuralLog": {"HDFS": (0.971, 0.988, 0.979), "BGL": (0.792, 0.884, 0.835), "Liberty": (0.875, 0.926, 0.900), "Thunderbird": (0.794, 0.931, 0.857)},
    "CNN": {"HDFS": (0.966, 1.000, 0.982), "BGL": (0.698, 0.965, 0.810), "Liberty": (0.580, 0.914, 0.709), "Thunderbird": (0.870, 0.690, 0.769)},
    "LogRobust": {"HDFS": (0.961, 1.000, 0.980), "BGL": (0.696, 0.968, 0.810), "Liberty": (0.695, 0.979, 0.813), "Thunderbird": (0.318, 1.000, 0.482)},
    "DeepLog": {"HDFS": (0.835, 0.994, 0.908), "BGL": (0.166, 0.988, 0.285), "Liberty": (0.751, 0.855, 0.800), "Thunderbird": (0.017, 0.966, 0.033)},
}
# Table IV: F1 by preprocessing.
PAPER_TABLE_IV_F1: dict[str, dict[str, float]] = {
    "raw": {"HDFS": 0.993, "BGL": 0.846, "Liberty": 0.909, "Thunderbird": 0.833},
    "template_id": {"HDFS": 0.969, "BGL": 0.418, "Liberty": 0.425, "Thunderbird": 0.550},
    "template": {"HDFS": 0.995, "BGL": 0.889, "Liberty": 0.949, "Thunderbird": 0.776},
    "re": {"HDFS": 0.997, "BGL": 0.916, "Liberty": 0.958, "Thunderbird": 0.966},
}
# Table V: F1 by training procedure (keys are the stage lists our trainer runs for each row).
PAPER_TABLE_V_F1: dict[str, tuple[str, dict[str, float]]] = {
    "2a,2b,3": ("W/O stage 1", {"HDFS": 0.995, "BGL": 0.725, "Liberty": 0.408, "Thunderbird": 0.522}),
    "1,3": ("W/O stage 2", {"HDFS": 0.997, "BGL": 0.888, "Liberty": 0.949, "Thunderbird": 0.903}),
    "3": ("W/O stages 1&2", {"HDFS": 0.996, "BGL": 0.868, "Liberty": 0.949, "Thunderbird": 0.897}),
    "1,2a,2b": ("W/O stage 3", {"HDFS": 0.996, "BGL": 0.738, "Liberty": 0.812, "Thunderbird": 0.868}),
    "1,2a,2b,3": ("all stages (LogLLM)", {"HDFS": 0.997, "BGL": 0.916, "Liberty": 0.958, "Thunderbird": 0.966}),
}
# Seed paper 002 (HDFS, its own split): F1.
PAPER_002_HDFS_F1 = {"BERT classifier": 0.981, "Llama 3.2 1B prompt-completion": 0.995}

MAIN_CONFIG = {"preprocessing": "re", "stages": "1,2a,2b,3", "beta": 0.3}
METRICS = ("precision", "recall", "f1", "roc_auc")


def paper_family(dataset: str) -> str | None:
    """Which paper dataset a benchmark dataset resembles (for side-by-side rows only)."""
    lowered = dataset.lower()
    for family in PAPER_DATASETS:
        if family.lower() in lowered:
            return family
    return None


# ----------------------------------------------------------------------------- statistics


def mean_std(runs: Iterable[dict[str, Any]], key: str) -> str:
    """`mean ± sample std` of one metric over seed runs (`logllm.report.summary`)."""
    return format_mean_std(r.get(key) for r in runs)


def _seeds(runs: list[dict[str, Any]]) -> str:
    return ",".join(str(r.get("seed")) for r in runs) or "-"


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def _matches(run: dict[str, Any], config: dict[str, Any] = MAIN_CONFIG) -> bool:
    """Whether an ablation run has every setting of `config` (values compared as text: JSON turns 0.3 into "0.3")."""
    return all(str(run.get(k)) == str(v) for k, v in config.items())


def _logllm_runs(dataset: dict[str, Any], **config: Any) -> list[dict[str, Any]]:
    """Ablation runs matching `config` (defaults: the paper's main configuration)."""
    want = {**MAIN_CONFIG, **config}
    rows = []
    for run in dataset.get("runs", []):
        if _matches(run, want) and run.get("metrics"):
            rows.append({**run["metrics"], "seed": run.get("seed")})
    return rows


# ----------------------------------------------------------------------------- sections


def _data_line(info: dict[str, Any]) -> str:
    sizes = ", ".join(f"{k} {v['windows']} ({v['anomalous']} anomalous)" for k, v in (info.get("sizes") or {}).items())
    kind = "real" if info.get("real_data") else "synthetic"
    return (
        f"Data: {info.get('source')} ({kind}); {info.get('windowing')} windows; preprocessing {info.get('preprocessing', 're')}; "
        f"split {info.get('split')}; {sizes}."
    )


def _logllm_row(data: dict[str, Any], preset: str, train_cap: int | None, hardware: str) -> str:
    runs = _logllm_runs(data)
    cells = [mean_std(runs, k) for k in METRICS]
    n_train = ((data.get("sizes") or {}).get("train") or {}).get("windows")
    used = f"first {train_cap} of {n_train} train windows, " if train_cap and n_train and n_train > train_cap else ""
    source = f"measured, {used}{hardware}" if runs else "not run"
    return f"| **LogLLM** ({preset} preset, re, stages 1-2a-2b-3, β=0.3) | " + " | ".join(cells) + f" | {_seeds(runs)} | {source} |"


def dataset_section(
    name: str, baselines: dict[str, Any] | None, ablations: dict[str, Any] | None, hardware: dict[str, str], preset: str = "?",
    train_cap: int | None = None, other_presets: list[dict[str, Any]] | None = None,
) -> list[str]:
    info = (baselines or ablations or {})
    lines = [f"### {name}", "", _data_line(info), ""]
    if info.get("notes"):
        lines += [f"Note: {info['notes']}.", ""]
    lines += ["| method | precision | recall | F1 | ROC-AUC | seeds | source |", "|---|---|---|---|---|---|---|"]
    if ablations is not None:
        lines.append(_logllm_row(ablations, preset, train_cap, hardware.get("ablations", "?")))
    else:
        lines.append("| **LogLLM** | not run | | | | | no bench/results/ablations.json entry |")
    for other in other_presets or []:
        data = (other.get("datasets") or {}).get(name)
        if data is not None:
            cap = (other.get("settings") or {}).get("max_train_windows")
            lines.append(_logllm_row(data, other.get("model_preset", "?"), cap, (other.get("hardware") or {}).get("summary", "?")))
    for model, result in ((baselines or {}).get("results") or {}).items():
        if result.get("skipped"):
            lines.append(f"| {model} | {result['skipped']} | | | | | |")
            continue
        runs = result.get("runs", [])
        cells = [mean_std(runs, k) for k in METRICS]
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {_seeds(runs)} | measured, {hardware.get('baselines', '?')} |")
    family = paper_family(name)
    if family:
        p, r, f = PAPER_TABLE_II["LogLLM"][family]
        lines.append(f"| LogLLM (paper) | {p:.3f} | {r:.3f} | {f:.3f} | - | - | published, full {family}, Table II of {PAPER} (other methods: below) |")
        if family == "HDFS":
            for method, f in PAPER_002_HDFS_F1.items():
                lines.append(f"| {method} (seed paper 002) | - | - | {f:.3f} | - | - | published, full HDFS, its own split |")
    lines.append("")
    return lines


def paper_table_ii() -> list[str]:
    header = " | ".join(f"{d} P / R / F1" for d in PAPER_DATASETS)
    lines = [f"### Published numbers on the full datasets (Table II of {PAPER})", "", f"| method | {header} |",
             "|---|" + "---|" * len(PAPER_DATASETS)]
    for method, numbers in PAPER_TABLE_II.items():
        lines.append(f"| {method} | " + " | ".join("{:.3f} / {:.3f} / {:.3f}".format(*numbers[d]) for d in PAPER_DATASETS) + " |")
    return lines + [""]


def _f1_auc(runs: list[dict[str, Any]]) -> str:
    return "n/a" if not runs else f"{mean_std(runs, 'f1')} / {mean_std(runs, 'roc_auc')}"


def ablation_sections(ablations: dict[str, Any], title: str = "Ablations (Tables IV, V and Fig. 4)") -> list[str]:
    datasets = ablations.get("datasets", {})
    names = list(datasets)
    lines = [
        f"## {title}",
        "",
        f"LogLLM {ablations.get('model_preset', '?')} preset, settings: {json.dumps(ablations.get('settings', {}))}. "
        f"Test F1 / ROC-AUC, mean ± std over seeds {ablations.get('seeds')}; paper columns are published numbers on full data ({PAPER}).",
        "",
        *([f"Studies run: {'; '.join(f'{k}: ' + ', '.join(v) for k, v in ablations['studies'].items())} "
           "(CPU budget); n/a = not run.", ""] if ablations.get("studies") else []),
        "### Preprocessing (Table IV)",
        "",
        "| preprocessing | " + " | ".join(f"{n} F1 / ROC-AUC" for n in names) + " | paper F1 (HDFS / BGL / Liberty / Thunderbird) |",
        "|---|" + "---|" * len(names) + "---|",
    ]
    for prep, paper in PAPER_TABLE_IV_F1.items():
        cells = [_f1_auc(_logllm_runs(datasets[n], preprocessing=prep)) for n in names]
        lines.append(f"| {prep} | " + " | ".join(cells) + " | " + " / ".join(f"{paper[d]:.3f}" for d in PAPER_DATASETS) + " |")
    lines += ["", "### Training stages (Table V)", "",
              "| stages run | paper row | " + " | ".join(f"{n} F1 / ROC-AUC" for n in names) + " | paper F1 (HDFS / BGL / Liberty / Thunderbird) |",
              "|---|---|" + "---|" * len(names) + "---|"]
    for stages, (label, paper) in PAPER_TABLE_V_F1.items():
        cells = [_f1_auc(_logllm_runs(datasets[n], stages=stages)) for n in names]
        lines.append(f"| {stages} | {label} | " + " | ".join(cells) + " | " + " / ".join(f"{paper[d]:.3f}" for d in PAPER_DATASETS) + " |")
    betas = sorted({float(r["beta"]) for d in datasets.values() for r in d.get("runs", []) if "beta" in r})
    lines += ["", "### Minority oversampling β (Fig. 4)", "", "| β | " + " | ".join(f"{n} F1 / ROC-AUC" for n in names) + " |",
              "|---|" + "---|" * len(names)]
    for beta in betas:
        cells = [_f1_auc(_logllm_runs(datasets[n], beta=beta)) for n in names]
        lines.append(f"| {beta:g} | " + " | ".join(cells) + " |")
    lines += ["", "Paper, Fig. 4: F1 varies by at most 0.07 for β in 10–80%; β = 0 collapses on Thunderbird (F1 0).", ""]
    for plot in ablations.get("plots", []):
        lines.append(f"![{Path(plot).stem}](results/{Path(plot).name})")
    not_run = list(ablations.get("not_run", []))
    for name, planned in (ablations.get("planned") or {}).items():
        done = [{k: str(r.get(k)) for k in ("preprocessing", "stages", "beta", "seed")} for r in datasets.get(name, {}).get("runs", [])]
        for config in planned:
            if {k: str(config.get(k)) for k in ("preprocessing", "stages", "beta", "seed")} not in done:
                failed = any(n.get("dataset") == name and str(config.get("seed")) in str(n.get("what")) and n.get("reason", "").startswith("failed")
                             for n in ablations.get("not_run", []))
                if not failed:
                    not_run.append({"dataset": name, "what": json.dumps(config), "reason": "planned, not reached (benchmark stopped before it)"})
    if not_run:
        lines += ["", "### Not run", ""] + [f"- {n.get('dataset')}: {n.get('what')} — {n.get('reason')}" for n in not_run]
    return lines + [""]


def _train_used(data: dict[str, Any], ablations: dict[str, Any]) -> str:
    n_train = ((data.get("sizes") or {}).get("train") or {}).get("windows")
    cap = (ablations.get("settings") or {}).get("max_train_windows")
    return f"first {cap} of {n_train}" if cap and n_train and n_train > cap else str(n_train)


def cost_section(sources: list[dict[str, Any]]) -> list[str]:
    """Table III (published) and the measured main-configuration LogLLM runs of every results file."""
    from logllm.report.cost import PAPER_TABLE_III_MINUTES

    lines = ["## Cost (next to Table III)", "",
             "| method | training (min) | testing (min) | windows/s | source |", "|---|---|---|---|---|"]
    for method, (train, test) in PAPER_TABLE_III_MINUTES.items():
        lines.append(f"| {method} | {train:,.2f} | {test:,.2f} | - | published, averaged over 4 full datasets, one GPU, Table III of {PAPER} |")
    for source in sources:
        for name, data in (source.get("datasets") or {}).items():
            for run in data.get("runs", []):
                if not _matches(run) or run.get("train_time_s") is None:
                    continue
                lines.append(
                    f"| LogLLM {source.get('model_preset')} on {name} (seed {run.get('seed')}) | {run['train_time_s'] / 60:.2f} | "
                    f"{(run.get('inference_time_s') or 0) / 60:.3f} | {run.get('windows_per_s')} | measured, "
                    f"{_train_used(data, source)} train windows, {run.get('n_test')} test windows, {source['hardware']['summary']} |"
                )
    return lines + [""]


def _studies_beyond_main(ablations: dict[str, Any]) -> bool:
    """Whether a results file holds variants besides the main configuration (else it only adds a LogLLM row)."""
    return any(not _matches(r) for d in ablations.get("datasets", {}).values() for r in d.get("runs", []))


def render(results_dir: Path) -> str:
    baselines = _load(results_dir / "baselines.json")
    ablations = _load(results_dir / "ablations.json")
    # ablations.<preset>.json: the main LogLLM configuration measured with another model preset
    other_files = sorted(results_dir.glob("ablations.*.json"))
    other_presets = [_load(p) for p in other_files]
    hardware = {
        "baselines": (baselines or {}).get("hardware", {}).get("summary", "?"),
        "ablations": (ablations or {}).get("hardware", {}).get("summary", "?"),
    }
    sources = [f"`{p.name}` ({(_load(p) or {}).get('created', '?')})" for p in (results_dir / "baselines.json", results_dir / "ablations.json", *other_files) if p.is_file()]
    lines = [
        "# Results",
        "",
        f"Generated by `python bench/report.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from "
        f"{', '.join(sources) or 'no results files'} in bench/results/. Do not edit by hand: rerun the benchmarks and this script.",
        "",
        "Measured rows are mean ± sample std over the listed model seeds, on the same windows and splits for every method; "
        "the threshold is chosen by best F1 on the validation split, never on test. Rows marked *paper* are published "
        "numbers on the full datasets, typed from the papers, shown for orientation only: they are not the same windows.",
        "",
    ]
    if baselines is None and ablations is None:
        return "\n".join(lines + ["No results yet: run `python bench/baselines.py` and `python bench/ablations.py`.", ""])
    lines += ["## LogLLM vs baselines vs the paper, per dataset", ""]
    names = list(dict.fromkeys([*((baselines or {}).get("datasets") or {}), *((ablations or {}).get("datasets") or {})]))
    for name in names:
        lines += dataset_section(
            name, ((baselines or {}).get("datasets") or {}).get(name), ((ablations or {}).get("datasets") or {}).get(name),
            hardware, (ablations or {}).get("model_preset", "?"), ((ablations or {}).get("settings") or {}).get("max_train_windows"),
            other_presets,
        )
    lines += paper_table_ii()
    if ablations is not None:
        lines += ablation_sections(ablations)
    else:
        lines += ["## Ablations", "", "Not run (no bench/results/ablations.json).", ""]
    for path, other in zip(other_files, other_presets):
        if other and _studies_beyond_main(other):
            lines += ablation_sections(other, f"Ablations with {path.name}")
    lines += cost_section([a for a in (ablations, *other_presets) if a])
    return "\n".join(lines)


__all__ = ["PAPER", "PAPER_TABLE_II", "PAPER_TABLE_IV_F1", "PAPER_TABLE_V_F1", "ablation_sections", "cost_section",
           "dataset_section", "mean_std", "paper_family", "paper_table_ii", "render"]
