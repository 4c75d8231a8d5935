"""Baselines on the benchmark windows: event-count models, novelty rules, BERT classifier, decoder classifier.

    python bench/baselines.py                         # all datasets, seeds 0 1 2, neural on the small ones
    python bench/baselines.py --datasets synthetic_hdfs bgl_2k --seeds 0 1 2 3 4 --no_neural
    python bench/baselines.py --families novelty --update  # add the novelty rows to the existing results
    python bench/baselines.py --bert_model bert-base-uncased --decoder_model meta-llama/Llama-3.2-1B   # with Hub access

Every dataset is built once with a fixed split seed (the windows and splits every method sees,
LogLLM included, see bench/ablations.py); model seeds vary per run. Writes
bench/results/baselines.json and bench/results/baselines.md; `python bench/report.py` turns the
JSON into bench/RESULTS.md.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logllm.dataset.benchmarks import bench_datasets, load_bench_dataset
from logllm.report.summary import write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGHUB = ROOT.parent / "shared" / "loghub"

logger = logging.getLogger("bench.baselines")


# ----------------------------------------------------------------------------- the run


@dataclass
class BaselineBenchArguments:
    datasets: list[str] = field(default_factory=lambda: list(bench_datasets(LOGHUB)), metadata={"help": "benchmark datasets"})
    loghub_dir: str = field(default=str(LOGHUB), metadata={"help": "the real Loghub samples"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "model seeds (at least 3 for mean ± std)"})
    families: list[str] = field(default_factory=lambda: ["count", "novelty", "neural"], metadata={
        "help": "baseline families: count (event-count models), novelty (new masked line / Drain template, embedding "
                "kNN), neural (BERT and decoder classifiers)"})
    neural: bool = field(default=True, metadata={"help": "run the neural family when it is listed in --families"})
    neural_max_train_windows: int = field(default=150, metadata={"help": "larger training splits: neural baselines use the capped training windows (or are skipped)"})
    bert_model: str | None = field(default=None, metadata={"help": "encoder for the BERT classifier (Hub id or folder); default: offline all-MiniLM-L6-v2"})
    decoder_model: str | None = field(default=None, metadata={"help": "causal LM for the prompt-completion classifier (e.g. meta-llama/Llama-3.2-1B); default: small decoder from scratch"})
    bert_max_length: int = field(default=64, metadata={"help": "BERT classifier tokens per window"})
    bert_epochs: float = field(default=1.0, metadata={"help": "BERT classifier epochs"})
    decoder_epochs: float = field(default=4.0, metadata={"help": "decoder classifier epochs"})
    capped_train_windows: int = field(default=96, metadata={"help": "also run on the first N training windows (what bench/ablations.py trains LogLLM on); 0 disables"})
    torch_threads: int = field(default=1, metadata={"help": "torch threads; 1 is fastest on a shared 2-core machine"})
    output: str = field(default=str(RESULTS / "baselines"), metadata={"help": "writes <output>.json and <output>.md"})
    update: bool = field(default=False, metadata={"help": "keep what <output>.json already holds (same seeds required): "
                                                          "other datasets, and on measured datasets the models not rerun"})


def run(args: BaselineBenchArguments) -> dict[str, Any]:
    import torch

    from logllm.baselines import BertBaselineConfig, DecoderBaselineConfig, run_bert_baseline, run_count_baselines, run_decoder_baseline
    from logllm.baselines.novelty import run_novelty_baselines
    from logllm.report.evaluate import hardware_info

    torch.set_num_threads(args.torch_threads)
    payload: dict[str, Any] = {"benchmark": "baselines", "hardware": hardware_info(), "seeds": args.seeds, "datasets": {}}
    for name in args.datasets:
        started = time.perf_counter()
        dataset, info = load_bench_dataset(name, args.loghub_dir)
        train, validation, test = dataset["train"], dataset.get("validation"), dataset["test"]
        results = run_count_baselines(train, test, args.seeds, validation_ds=validation) if "count" in args.families else {}
        if "novelty" in args.families:
            results.update(run_novelty_baselines(train, test, args.seeds, validation_ds=validation))
        capped = None
        if args.capped_train_windows and len(train) > args.capped_train_windows:
            capped = train.select(range(args.capped_train_windows))
            suffix = f" (first {args.capped_train_windows} train windows)"
            if "count" in args.families:
                for model, result in run_count_baselines(capped, test, args.seeds, validation_ds=validation).items():
                    results[model + suffix] = {**result, "train_windows_used": args.capped_train_windows}
        if args.neural and "neural" in args.families:
            neural_train = train if len(train) <= args.neural_max_train_windows else capped
            if neural_train is None:
                reason = f"not run: {len(train)} training windows > --neural_max_train_windows {args.neural_max_train_windows} (CPU budget)"
                for model in ("bert_classifier", "decoder_prompt_completion"):
                    results[model] = {"model": model, "seeds": args.seeds, "runs": [], "skipped": reason}
            else:
                suffix = "" if neural_train is train else f" (first {len(neural_train)} train windows)"
                bert = BertBaselineConfig(model_name_or_path=args.bert_model, max_length=args.bert_max_length, epochs=args.bert_epochs)
                results["bert_classifier" + suffix] = run_bert_baseline(neural_train, test, args.seeds, validation_ds=validation, config=bert)
                decoder = DecoderBaselineConfig(decoder=args.decoder_model, epochs=args.decoder_epochs)
                results["decoder_prompt_completion" + suffix] = run_decoder_baseline(neural_train, test, args.seeds, validation_ds=validation, config=decoder)
        payload["datasets"][name] = {**info, "results": results, "wall_time_s": round(time.perf_counter() - started, 1),
                                     "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        logger.info("%s done in %.0fs", name, time.perf_counter() - started)
    payload["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return payload


def render_markdown(payload: dict[str, Any]) -> str:
    from logllm.baselines import format_mean_std

    lines = [
        "# Baselines (mean ± std over model seeds " + ", ".join(map(str, payload["seeds"])) + ")",
        "",
        f"Hardware: {payload['hardware']['summary']}. Threshold: best F1 on validation (supervised models), "
        "the model's own rule for the isolation forest, \"at least one unseen line\" for new_masked_line and "
        "new_drain_template, the 0.99 quantile of the normal validation windows (floor 0.05) for embedding_knn. "
        "Generated by bench/baselines.py.",
        "",
    ]
    for name, data in payload["datasets"].items():
        sizes = ", ".join(f"{k} {v['windows']} ({v['anomalous']} anomalous)" for k, v in data["sizes"].items())
        lines += [f"## {name}", "", f"{data['source']}; {data['windowing']} windows; split {data['split']}; {sizes}.", ""]
        if data.get("notes"):
            lines += [f"Note: {data['notes']}.", ""]
        lines += ["| model | precision | recall | F1 | ROC-AUC |", "|---|---|---|---|---|"]
        for model, result in data["results"].items():
            if result.get("skipped"):
                lines.append(f"| {model} | skipped: {result['skipped']} | | | |")
                continue
            cells = [format_mean_std(result, k) for k in ("precision", "recall", "f1", "roc_auc")]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(BaselineBenchArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = set(args.datasets) - set(bench_datasets(args.loghub_dir))
    if unknown:
        raise SystemExit(f"unknown datasets {sorted(unknown)}; choose from {sorted(bench_datasets(args.loghub_dir))}")
    if len(args.seeds) < 3:
        logger.warning("fewer than 3 seeds: the std is not meaningful")
    out = Path(args.output)
    json_path, md_path = out.parent / f"{out.name}.json", out.parent / f"{out.name}.md"  # not with_suffix: keep dotted names
    previous = json.loads(json_path.read_text(encoding="utf-8")) if args.update and json_path.is_file() else None
    if previous is not None and previous.get("seeds") != args.seeds:
        raise SystemExit(f"--update: {json_path} was measured with seeds {previous.get('seeds')}, not {args.seeds}")
    payload = run(args)
    if previous is not None:  # measured models replace their old entries; everything else stays as it was
        for name, entry in payload["datasets"].items():
            kept = previous["datasets"].get(name, {}).get("results", {})
            entry["results"] = {**kept, **entry["results"]}
            if kept:
                entry["hardware_of_new_rows"] = payload["hardware"]["summary"]
        payload["datasets"] = {**previous["datasets"], **payload["datasets"]}
    write_report(payload, out, render_markdown)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
