"""Regenerate bench/RESULTS.md from the JSON of actual runs in bench/results/.

    python bench/report.py                       # reads bench/results/{baselines,ablations}.json
    python bench/report.py --results DIR --output FILE

The rendering lives in `logllm.report.results` (bench/ablations.py renders its own tables with it too).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from logllm.report.results import render

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ReportArguments:
    results: str = field(default=str(ROOT / "bench" / "results"), metadata={"help": "folder with baselines.json / ablations.json"})
    output: str = field(default=str(ROOT / "bench" / "RESULTS.md"), metadata={"help": "Markdown file to write"})


def pretrained_section(results_dir: Path) -> str:
    """bench/pretrained_vs_random.py's report as that script rendered it, headings one level down; empty when not run."""
    path = results_dir / "pretrained_vs_random.md"
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    return "\n" + text.replace("\n## ", "\n### ").replace("# ", "## ", 1)


def generalization_section(results_dir: Path) -> str:
    """bench/generalization.py's report up to its per-setting tables (intro, methods, headline), one level down."""
    path = results_dir / "generalization.md"
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8").split("\n## Data and sizes", 1)[0]
    text = text.replace("\n## ", "\n### ").replace("# Generalization benchmark", "## Generalization: unseen kinds, few labels, other systems, normal-only, known kinds", 1)
    return "\n" + text.rstrip("\n") + "\n\nPer-setting tables, data and plots: [results/generalization.md](results/generalization.md).\n"


def hdfs_real_section(results_dir: Path) -> str:
    """bench/hdfs_real.py's report (real HDFS at 1/60 scale, every row on the same sessions), one level down."""
    path = results_dir / "hdfs_real.md"
    if not path.is_file():
        return ""
    return "\n" + path.read_text(encoding="utf-8").replace("\n## ", "\n### ").replace("# ", "## ", 1)


def gpu_section(results_dir: Path) -> str:
    """bench/train_gpu.py's report (QLoRA on a GPU, or why it has no number), one level down; empty when not run."""
    path = results_dir / "train_gpu.md"
    if not path.is_file():
        return ""
    return "\n" + path.read_text(encoding="utf-8").replace("\n## ", "\n### ").replace("# ", "## ", 1)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(ReportArguments).parse_args_into_dataclasses(args=argv)
    text = (render(Path(args.results)).rstrip("\n") + "\n" + hdfs_real_section(Path(args.results))
            + pretrained_section(Path(args.results))
            + generalization_section(Path(args.results)) + gpu_section(Path(args.results)))
    Path(args.output).write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
