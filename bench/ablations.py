"""LogLLM ablations: preprocessing (Table IV), training stages (Table V) and β (Fig. 4).

    python bench/ablations.py                                  # CPU-sized defaults (tiny preset, ~10 min on 2 cores)
    python bench/ablations.py --datasets synthetic_hdfs --studies beta --betas 0 0.1 0.3 0.5 0.8
    python bench/ablations.py --model_preset default --max_train_windows 400 --seeds 0 1 2   # slower, closer to the paper
    python bench/ablations.py --recipe default/bench --model_preset default --datasets thunderbird_12k_w20 \
        --real_studies stages beta --max_train_windows 1000 --max_lines_per_window 20 --output bench/results/ablations.quickstart

Each run trains LogLLM with `logllm.training.stages.run_training` and a training recipe (default
train/recipes/tiny/bench.yaml: the paper's stage schedule at 20x its rates, one epoch per stage; `--recipe
default/bench` is the quickstart's training) on the benchmark windows of `logllm.dataset.benchmarks` (same windows and
splits as the baselines), picks the threshold on validation, scores test with
`logllm.report.evaluate.evaluate_model`, and lands in
bench/results/ablations.json. Variants share the main configuration (re preprocessing, stages
1,2a,2b,3, β = 0.3) except for the one factor studied, so the main run is trained once and
reused by all three tables. Plots: bench/results/ablations.{preprocessing,stages,beta}.png. `python bench/report.py`
puts everything into bench/RESULTS.md.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logllm.dataset.benchmarks import bench_datasets, load_bench_dataset
from logllm.report.summary import write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGHUB = ROOT.parent / "shared" / "loghub"

logger = logging.getLogger("bench.ablations")

MAIN = {"preprocessing": "re", "stages": "1,2a,2b,3", "beta": 0.3}
STUDIES = ("main", "preprocessing", "stages", "beta")  # "main" alone: only the main configuration
STAGE_VARIANTS = ("1,2a,2b,3", "2a,2b,3", "1,3", "3", "1,2a,2b")


@dataclass
class AblationArguments:
    datasets: list[str] = field(default_factory=lambda: ["synthetic_hdfs", "thunderbird_12k"], metadata={"help": "benchmark datasets (logllm.dataset.benchmarks)"})
    loghub_dir: str = field(default=str(LOGHUB), metadata={"help": "the real Loghub samples"})
    studies: list[str] = field(default_factory=lambda: list(STUDIES), metadata={"help": "studies on synthetic datasets: preprocessing, stages, beta"})
    real_studies: list[str] = field(default_factory=lambda: ["preprocessing"], metadata={"help": "studies on real-data datasets (CPU budget)"})
    preprocessings: list[str] = field(default_factory=lambda: ["re", "raw", "template", "template_id"], metadata={"help": "Table IV variants"})
    stage_variants: list[str] = field(default_factory=lambda: list(STAGE_VARIANTS), metadata={"help": "Table V variants"})
    betas: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.3, 0.6], metadata={"help": "Fig. 4 β values"})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "training seeds"})
    model_preset: str = field(default="tiny", metadata={"help": "tiny (fast, random encoder) or default (MiniLM + small Llama)"})
    recipe: str = field(default="tiny/bench", metadata={"help": "training recipe (train/recipes/): its stages, rates, epochs "
                                                          "and batch; default/bench is the quickstart's training"})
    max_train_windows: int = field(default=96, metadata={"help": "training windows per run (before oversampling)"})
    max_eval_windows: int = field(default=80, metadata={"help": "validation windows (threshold choice, per-stage eval)"})
    max_test_windows: int = field(default=200, metadata={"help": "test windows"})
    max_lines_per_window: int = field(default=16, metadata={"help": "lines the model reads per window"})
    torch_threads: int = field(default=1, metadata={"help": "torch threads; 1 is fastest on a shared 2-core machine"})
    output: str = field(default=str(RESULTS / "ablations"), metadata={"help": "writes <output>.json, <output>.md and plots"})
    resume: bool = field(default=False, metadata={"help": "keep the runs already in <output>.json and add only missing (config, seed) runs"})


def planned_configs(args: AblationArguments, dataset: str) -> list[dict[str, Any]]:
    """The distinct (preprocessing, stages, beta) settings the chosen studies need, main first."""
    spec = bench_datasets(args.loghub_dir)[dataset]
    allowed = spec.preprocessings
    studies = args.real_studies if spec.real else args.studies
    configs = [dict(MAIN)]
    if "preprocessing" in studies:
        configs += [{**MAIN, "preprocessing": p} for p in args.preprocessings]
    if "stages" in studies:
        configs += [{**MAIN, "stages": s} for s in args.stage_variants]
    if "beta" in studies:
        configs += [{**MAIN, "beta": float(b)} for b in args.betas]
    unique = []
    for c in configs:
        if c not in unique and c["preprocessing"] in allowed:
            unique.append(c)
    return unique


def train_and_score(name: str, dataset: Any, config: dict[str, Any], seed: int, args: AblationArguments, workdir: Path) -> dict[str, Any]:
    """One LogLLM training run (stages as configured) and its test evaluation."""
    from logllm.training.recipes import parse_arguments
    from logllm.training.stages import run_training

    output_dir = workdir / name / f"{config['preprocessing']}_{config['stages'].replace(',', '-')}_b{config['beta']}_s{seed}"
    argv = recipe_argv(config, seed, args, output_dir)
    started = time.perf_counter()
    result = run_training(*parse_arguments(argv), dataset=dataset)
    evaluation = result.eval_metrics or {}
    train_s = sum(float(s.get("seconds", 0)) for s in result.stages)
    return {
        **config, "seed": seed, "metrics": evaluation.get("metrics"), "threshold": evaluation.get("threshold"),
        "threshold_source": evaluation.get("threshold_source"), "train_time_s": round(train_s, 2),
        "stage_seconds": {s["stage"]: s.get("seconds") for s in result.stages},
        "stage_settings": [{k: s.get(k) for k in ("stage", "trains", "learning_rate", "epochs", "windows", "steps")} for s in result.stages],
        "inference_time_s": evaluation.get("inference_time_s"), "windows_per_s": evaluation.get("windows_per_s"),
        "lines_per_s": evaluation.get("lines_per_s"), "n_test": evaluation.get("n_windows"),
        "wall_time_s": round(time.perf_counter() - started, 2), "argv": " ".join(argv),
    }


def recipe_argv(config: dict[str, Any], seed: int, args: AblationArguments, output_dir: Path) -> list[str]:
    """The recipe with what this benchmark varies: data, the studied factors (stages of the recipe, β), sizes, seed."""
    return [
        "--config", args.recipe, "--dataset_name", "bench", "--model_preset", args.model_preset,
        "--stages", config["stages"], "--oversample_beta", str(config["beta"]), "--output_dir", str(output_dir),
        "--seed", str(seed), "--max_train_windows", str(args.max_train_windows),
        "--max_eval_windows", str(args.max_eval_windows), "--max_test_windows", str(args.max_test_windows),
        "--max_lines_per_window", str(args.max_lines_per_window),
    ]


def save(payload: dict[str, Any], output: str) -> None:
    """Write the JSON (after every run, so an interrupted benchmark keeps what it measured) and the Markdown."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload["plots"] = [p.name for p in write_plots(payload, out.parent, out.name)]  # next to the JSON
    write_report(payload, out, render_markdown)


def with_suffix(out: Path, suffix: str) -> Path:
    """`ablations.default` + `.json` (Path.with_suffix would replace `.default`)."""
    return out.parent / f"{out.name}{suffix}"


def resumable(args: AblationArguments, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier results to extend with --resume; refused if they were measured with other sizes."""
    path = with_suffix(Path(args.output), ".json")
    if not args.resume or not path.is_file():
        return None
    previous = json.loads(path.read_text(encoding="utf-8"))
    if previous.get("settings") != settings or previous.get("model_preset") != args.model_preset:
        raise SystemExit(f"--resume: {path} was measured with other settings {previous.get('settings')}; use another --output")
    return previous


def run(args: AblationArguments) -> dict[str, Any]:
    import torch

    from logllm.report.evaluate import hardware_info

    torch.set_num_threads(args.torch_threads)
    sizes = ("max_train_windows", "max_eval_windows", "max_test_windows", "max_lines_per_window")
    settings = {k: getattr(args, k) for k in (*sizes, "recipe")}
    payload: dict[str, Any] = {
        "benchmark": "ablations", "hardware": hardware_info(), "seeds": args.seeds, "model_preset": args.model_preset,
        "settings": settings, "datasets": {}, "not_run": [], "plots": [],
        "studies": {"synthetic datasets": args.studies, "real-data datasets": args.real_studies},
    }
    previous = resumable(args, settings)
    if previous:
        payload["datasets"] = previous["datasets"]
        payload["seeds"] = sorted({*previous.get("seeds", []), *args.seeds})
        payload["planned"] = previous.get("planned", {})
    with tempfile.TemporaryDirectory(prefix="logllm_ablation_") as tmp:
        for name in args.datasets:
            built: dict[str, tuple[Any, dict[str, Any]]] = {}
            payload["datasets"].setdefault(name, {"runs": []})
            runs: list[dict[str, Any]] = payload["datasets"][name]["runs"]
            planned = payload.setdefault("planned", {}).setdefault(name, [])
            planned += [p for p in ({**c, "seed": seed} for c in planned_configs(args, name) for seed in args.seeds) if p not in planned]
            for config in planned_configs(args, name):
                if config["preprocessing"] not in built:
                    built[config["preprocessing"]] = load_bench_dataset(name, args.loghub_dir, config["preprocessing"])
                    if "source" not in payload["datasets"][name]:  # the first build (main config: re) describes the data
                        payload["datasets"][name].update(built[config["preprocessing"]][1])
                dataset, _ = built[config["preprocessing"]]
                for seed in args.seeds:
                    if any(all(str(r.get(k)) == str(v) for k, v in {**config, "seed": seed}.items()) for r in runs):
                        logger.info("%s: %s seed %d already measured (--resume)", name, config, seed)
                        continue
                    logger.info("%s: %s seed %d", name, config, seed)
                    try:
                        runs.append(train_and_score(name, dataset, config, seed, args, Path(tmp)))
                        payload["runs_done"] = payload.get("runs_done", 0) + 1
                        save(payload, args.output)
                    except Exception as err:  # a failed variant is reported, never dropped silently
                        logger.exception("%s %s seed %d failed", name, config, seed)
                        payload["not_run"].append({"dataset": name, "what": f"{config} seed {seed}", "reason": f"failed: {err}"})
            skipped = [p for p in args.preprocessings if p not in bench_datasets(args.loghub_dir)[name].preprocessings]
            for p in skipped:
                payload["not_run"].append({"dataset": name, "what": f"preprocessing {p}", "reason": "the data has no text (event keys only)"})
    return payload


def _f1_by(runs: list[dict[str, Any]], key: str, values: list[Any], **fixed: Any) -> tuple[list[float], list[float]]:
    import numpy as np

    means, stds = [], []
    for value in values:
        f1 = [r["metrics"]["f1"] for r in runs if r.get("metrics") and str(r[key]) == str(value)
              and all(str(r[k]) == str(v) for k, v in fixed.items())]
        means.append(float(np.mean(f1)) if f1 else float("nan"))
        stds.append(float(np.std(f1)) if f1 else 0.0)
    return means, stds


def write_plots(payload: dict[str, Any], out_dir: Path, stem: str = "ablations") -> list[Path]:
    """Grouped bars for Tables IV/V, and F1/precision/recall against β (Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    datasets = payload["datasets"]
    for key, fixed, title, filename in (
        ("preprocessing", {"stages": MAIN["stages"], "beta": MAIN["beta"]}, "Preprocessing (Table IV)", f"{stem}.preprocessing.png"),
        ("stages", {"preprocessing": "re", "beta": MAIN["beta"]}, "Training stages (Table V)", f"{stem}.stages.png"),
    ):
        values = list(dict.fromkeys(str(r[key]) for d in datasets.values() for r in d["runs"]
                                    if all(str(r[k]) == str(v) for k, v in fixed.items())))
        if len(values) < 2:  # one variant: nothing to compare
            continue
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        width = 0.8 / max(1, len(datasets))
        for i, (name, data) in enumerate(datasets.items()):
            means, stds = _f1_by(data["runs"], key, values, **fixed)
            ax.bar(np.arange(len(values)) + i * width, means, width, yerr=stds, label=name)
        ax.set_xticks(np.arange(len(values)) + width * (len(datasets) - 1) / 2, values)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("test F1")
        ax.set_title(f"{title}, {payload['model_preset']} preset")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=110)
        plt.close(fig)
        paths.append(out_dir / filename)
    betas = sorted({float(r["beta"]) for d in datasets.values() for r in d["runs"] if r["preprocessing"] == "re" and r["stages"] == MAIN["stages"]})
    if len(betas) > 1:
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
        for ax, metric in zip(axes, ("precision", "recall", "f1")):
            for name, data in datasets.items():
                rows = [r for r in data["runs"] if r.get("metrics") and r["preprocessing"] == "re" and r["stages"] == MAIN["stages"]]
                ys = [np.mean([r["metrics"][metric] for r in rows if float(r["beta"]) == b] or [np.nan]) for b in betas]
                ax.plot([b * 100 for b in betas], ys, marker="o", label=name)
            ax.set_xlabel("β (%)")
            ax.set_title(metric)
            ax.set_ylim(0, 1.05)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"Minority oversampling (Fig. 4), {payload['model_preset']} preset")
        fig.tight_layout()
        fig.savefig(out_dir / f"{stem}.beta.png", dpi=110)
        plt.close(fig)
        paths.append(out_dir / f"{stem}.beta.png")
    return paths


def render_markdown(payload: dict[str, Any]) -> str:
    from logllm.report.results import ablation_sections  # one renderer for this file and RESULTS.md

    return "\n".join(["# LogLLM ablations", "", f"Hardware: {payload['hardware']['summary']}. Generated by bench/ablations.py.", "",
                      *ablation_sections(payload)]).replace("](results/", "](")


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(AblationArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = set(args.datasets) - set(bench_datasets(args.loghub_dir))
    if unknown or set(args.studies) - set(STUDIES):
        raise SystemExit(f"unknown datasets/studies {sorted(unknown | (set(args.studies) - set(STUDIES)))}")
    payload = run(args)
    save(payload, args.output)
    out = Path(args.output)
    print(f"wrote {with_suffix(out, '.json')}, {with_suffix(out, '.md')} and {len(payload['plots'])} plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
