"""`train/recipes/accelerate/cpu_ddp.yaml` starts two CPU processes that train as one (issue 19).

The test launches this file with `accelerate launch --config_file ...cpu_ddp.yaml`; each rank takes one step on the
tiny LogLLM with its own windows, and writes its local gradient, the synchronised one and the updated weights. Both
ranks must have trained (weights moved), in step (identical gradients and weights), on different data (the local
gradients differ, so the agreement comes from the all-reduce, not from identical inputs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "train" / "recipes" / "accelerate" / "cpu_ddp.yaml"


def one_step(out: Path) -> None:
    """What each launched process runs."""
    import torch
    from accelerate import Accelerator

    from logllm.modeling.presets import build_tiny

    accelerator = Accelerator(cpu=True)   # the recipes' use_cpu: true
    rank = accelerator.process_index
    model, processor = build_tiny(seed=0)   # the same initial weights on both ranks
    model.set_training_stage(3)
    texts = (["heartbeat ok", "disk full", "job started"], ["user login", "cache miss", "job finished", "heartbeat ok"])
    windows = [texts[rank], texts[rank][::-1]]   # each rank its own lines (text without numbers: masking keeps it)
    batch = processor(windows, labels=[0, 1])
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model, optimizer = accelerator.prepare(model, optimizer)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    name, probe = next((n, p) for n, p in model.named_parameters() if p.requires_grad and "projector" in n)
    with model.no_sync():   # this rank's own gradient, before any all-reduce
        accelerator.backward(model(**batch).loss)
    local = probe.grad.detach().flatten()[:16].tolist()
    optimizer.zero_grad()
    accelerator.backward(model(**batch).loss)   # with the all-reduce
    synced = probe.grad.detach().flatten()[:16].tolist()
    optimizer.step()
    moved = max(float((p.detach() - b).abs().max()) for p, b in zip([p for p in model.parameters() if p.requires_grad], before))
    weights = probe.detach().flatten()[:16].tolist()
    (out / f"rank{rank}.json").write_text(json.dumps({
        "rank": rank, "world": accelerator.num_processes, "type": str(accelerator.distributed_type),
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "parameter": name, "local": local, "synced": synced, "weights": weights, "moved": moved}))


@pytest.mark.skipif(shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists(),
                    reason="accelerate's launcher is not installed")
def test_cpu_ddp_recipe_starts_two_ranks_that_train_in_step(tmp_path):
    launcher = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([launcher, "launch", "--config_file", str(CONFIG), __file__, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)
    assert all(r["type"] == "DistributedType.MULTI_CPU" and r["backend"] == "gloo" for r in ranks)
    first, second = ranks
    assert first["local"] != second["local"]                       # different data on each rank
    assert first["synced"] == pytest.approx(second["synced"], abs=1e-7)   # one gradient after the all-reduce
    assert first["synced"] == pytest.approx([(a + b) / 2 for a, b in zip(first["local"], second["local"])], abs=1e-6)
    assert first["weights"] == pytest.approx(second["weights"], abs=1e-7) and min(r["moved"] for r in ranks) > 0


if __name__ == "__main__":
    one_step(Path(sys.argv[1]))
