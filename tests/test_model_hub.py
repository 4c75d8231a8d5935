"""Hub packaging: save_pretrained writes auto_map + code; a fresh offline process loads with trust_remote_code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from logllm.modeling.presets import build_tiny

WINDOWS = [["Receiving block blk_1 src 10.0.0.1", "PacketResponder 1 terminating"], ["Exception in receiveBlock", "Deleting block"]]

LOAD_SCRIPT = """
import json, sys
from transformers import AutoModel, AutoProcessor
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
processor = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
assert "modeling_logllm" not in sys.modules, "loaded the installed package instead of the saved code"
windows = json.loads(sys.argv[2])
print(json.dumps({"cls": type(model).__name__, "proc": type(processor).__name__,
                  "scores": [r["score"] for r in model.detect(windows, processor)]}))
"""


def test_save_writes_code_auto_map_and_safetensors_only(tmp_path):
    model, processor = build_tiny(seed=0)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"modeling_logllm.py", "configuration_logllm.py", "processing_logllm.py", "masking_logllm.py"} <= files
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_logllm.LogLLMConfig",
        "AutoModel": "modeling_logllm.LogLLMForAnomalyDetection",
    }
    assert json.loads((tmp_path / "processor_config.json").read_text())["auto_map"] == {
        "AutoProcessor": "processing_logllm.LogLLMProcessor"
    }


def test_fresh_offline_process_loads_with_trust_remote_code_and_same_scores(tmp_path):
    model, processor = build_tiny(seed=0)
    model.eval()
    expected = [r["score"] for r in model.detect(WINDOWS, processor)]
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / "model"), json.dumps(WINDOWS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["cls"] == "LogLLMForAnomalyDetection" and loaded["proc"] == "LogLLMProcessor"
    assert loaded["scores"] == expected
