"""Preprocessing by name: the paper's regex masking, raw text, and Drain templates / template ids."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from logllm.windows.preprocessing import PREPROCESSORS, load_masker, make_preprocessor

MASKER = Path(__file__).resolve().parents[1] / "logllm" / "modeling" / "masking_logllm.py"


@pytest.mark.parametrize(("line", "masked"), [
    ("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
     "Receiving block <*> src: /<*> dest: /<*>"),
    ("BLOCK* NameSystem.allocateBlock: /mnt/hadoop/mapred/system/job_200811092030_0001/job.jar. blk_-16",
     "BLOCK* NameSystem.allocateBlock: <*> <*>"),
    ("PacketResponder 1 for block blk_38865049064139660 terminating", "PacketResponder <*> for block <*> terminating"),
    ("instruction cache parity error corrected", "instruction cache parity error corrected"),
    ("CE sym 2, at 0x0b85eee0, mask 0x05", "CE sym <*>, at <*>, mask <*>"),
    ("generating core.2275", "generating core.<*>"),
    ("ciod: Error reading message prefix after LOAD_MESSAGE on CioStream socket to 172.16.96.116:33370: Link has been severed",
     "ciod: Error reading message prefix after LOAD_MESSAGE on CioStream socket to <*>: Link has been severed"),
    ("node card R02-M1-N0-C:J12-U11 at 2005-06-03-15.42.50.675872", "node card <*> at <*>"),
    ("session opened for user root by (uid=0)", "session opened for user root by (uid=<*>)"),
    ("see https://x.org/a?b=1 or mail ops@example.com", "see <*> or mail <*>"),
    ("Model: 1x2 SCSI Rev: 1.0 and 0x2", "Model: <*>x2 SCSI Rev: <*> and <*>"),
])
def test_mask_line_examples(line, masked):
    assert load_masker().mask_line(line) == masked


def test_cached_masking_equals_a_plain_regex_pass():
    masker = load_masker()
    lines = ["a 0x12 1x12 9x1 0X1F", "é 12 ü 3.5", "Thunderbird_D4 x 77", "blk_-1 blk_22 10.0.0.1:80 10.0.0.12:8080"]
    lines += [f"job {i} took {i * 7} ms on 10.{i % 256}.0.{i % 7}" for i in range(500)]
    for line in lines * 2:
        assert masker.mask_line(line) == masker.MASK_REGEX.sub(masker.MASK, line)


def test_masker_imports_only_the_standard_library():
    tree = ast.parse(MASKER.read_text())
    modules = {n.module if isinstance(n, ast.ImportFrom) else a.name
               for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert modules <= {"__future__", "re"}, modules


def test_preprocessors_by_name():
    assert set(PREPROCESSORS) == {"re", "raw", "template", "template_id"}
    assert make_preprocessor("raw")("x 1") == "x 1"
    template = make_preprocessor("template")
    ids = make_preprocessor("template_id")
    lines = [f"Deleting block blk_{i} file /data/blk_{i}" for i in range(5)] + ["Verification succeeded for blk_1"]
    templates = [template(line) for line in lines]
    assert "<*>" in templates[4] and templates[4].startswith("Deleting block")
    tokens = [ids(line) for line in lines]
    assert tokens[0] == tokens[4] != tokens[5] and tokens[0].startswith("E")
    with pytest.raises(ValueError, match="unknown preprocessing"):
        make_preprocessor("bert")
