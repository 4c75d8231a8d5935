"""Write the Space's bundled examples from the project's seeded synthetic log generators.

    python space/make_examples.py            # -> space/examples/*.log

No real log data is bundled: every line comes from ``logllm.logs.synthetic``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import HfArgumentParser

from logllm.logs.synthetic import bgl_like_lines, hdfs_like_lines

EXAMPLES = Path(__file__).with_name("examples")


@dataclass
class ExampleArguments:
    output_dir: str = str(EXAMPLES)
    seed: int = 7
    bgl_lines: int = 600
    bgl_anomaly_rate: float = 0.01
    hdfs_sessions: int = 40
    hdfs_anomaly_rate: float = 0.1


def write_examples(args: ExampleArguments) -> list[Path]:
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    bgl = out / "synthetic_bgl_labeled.log"
    bgl.write_text("".join(line.text + "\n" for line in bgl_like_lines(args.bgl_lines, args.seed, args.bgl_anomaly_rate)),
                   encoding="utf-8")
    hdfs = out / "synthetic_hdfs_sessions.log"
    hdfs.write_text("".join(line.text + "\n" for line in hdfs_like_lines(args.hdfs_sessions, args.seed, args.hdfs_anomaly_rate)),
                    encoding="utf-8")
    return [bgl, hdfs]


def main(argv: list[str] | None = None) -> int:
    (args,) = HfArgumentParser(ExampleArguments).parse_args_into_dataclasses(args=argv)
    for path in write_examples(args):
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
