"""LoRA (paper ranks), adapter-only saving, merging, and QLoRA with NF4 weights on CPU."""

from __future__ import annotations

import os

import pytest
import torch

from logllm.modeling.adapters import apply_lora, load_quantized, merge_lora, quantization_config
from logllm.modeling.presets import build_tiny

WINDOWS = [["job started", "job finished"], ["job started", "disk failure on node"]]


def _lora_layer(model, suffix):
    return next(m for n, m in model.named_modules() if n.endswith(suffix))


def test_lora_paper_ranks_and_trainable_parts():
    model, _ = build_tiny(seed=0)
    peft_model = apply_lora(model)
    enc = _lora_layer(peft_model, "encoder.encoder.layer.0.attention.self.query")
    dec = _lora_layer(peft_model, "decoder.layers.0.self_attn.v_proj")
    assert (enc.r["default"], enc.scaling["default"]) == (4, 32 / 4)
    assert (dec.r["default"], dec.scaling["default"]) == (8, 16 / 8)
    assert not hasattr(_lora_layer(peft_model, "decoder.layers.0.self_attn.k_proj"), "lora_A")
    assert set(peft_model.set_training_stage(1)) == {"decoder"}
    assert set(peft_model.set_training_stage("2a")) == {"projector"}
    for name, p in peft_model.named_parameters():
        if p.requires_grad:
            assert "lora_" in name or ".modules_to_save." in name, name


def test_adapter_only_save_reload_and_merge(tmp_path):
    from peft import PeftModel

    model, processor = build_tiny(seed=0)
    peft_model = apply_lora(model)
    peft_model.set_training_stage(3)
    peft_model.train()
    optim = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        optim.zero_grad()
        peft_model(**processor(WINDOWS, labels=[0, 1])).loss.backward()
        optim.step()
    peft_model.eval()
    trained = [r["score"] for r in peft_model.detect(WINDOWS, processor)]
    peft_model.save_pretrained(tmp_path)
    assert "adapter_model.safetensors" in os.listdir(tmp_path)
    assert os.path.getsize(tmp_path / "adapter_model.safetensors") < 0.2 * sum(p.numel() * 4 for p in model.parameters())
    base, _ = build_tiny(seed=0)
    reloaded = PeftModel.from_pretrained(base, tmp_path).eval()
    assert [r["score"] for r in reloaded.detect(WINDOWS, processor)] == pytest.approx(trained, abs=1e-5)
    merged = merge_lora(reloaded)
    assert type(merged).__name__ == "LogLLMForAnomalyDetection"
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert [r["score"] for r in merged.detect(WINDOWS, processor)] == pytest.approx(trained, abs=1e-4)


def test_qlora_nf4_on_cpu_trains_adapters(tmp_path):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    model, processor = build_tiny(seed=0)
    model.save_pretrained(tmp_path)
    quantized = load_quantized(tmp_path, bits=4)
    assert isinstance(quantized.decoder.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    for kept in (quantized.projector.linear, quantized.lm_head, quantized.encoder.encoder.layer[0].attention.self.query):
        assert type(kept) is torch.nn.Linear
    quantized.eval()
    full = [r["score"] for r in model.eval().detect(WINDOWS, processor)]
    assert [r["score"] for r in quantized.detect(WINDOWS, processor)] == pytest.approx(full, abs=0.05)
    peft_model = apply_lora(quantized)
    peft_model.train()
    loss = peft_model(**processor(WINDOWS, labels=[0, 1])).loss
    loss.backward()
    lora_b = _lora_layer(peft_model, "decoder.layers.0.self_attn.q_proj").lora_B["default"].weight
    assert lora_b.grad is not None


def test_quantization_config_skips_head_and_projector():
    cfg = quantization_config(4)
    assert cfg.bnb_4bit_quant_type == "nf4"
    assert {"lm_head", "model.projector", "model.encoder"} <= set(cfg.llm_int8_skip_modules)
    with pytest.raises(ValueError, match="bits"):
        quantization_config(3)


def test_missing_bitsandbytes_gives_install_hint(monkeypatch):
    import logllm.modeling.adapters as peft_logllm

    monkeypatch.setattr(peft_logllm, "is_bitsandbytes_available", lambda: False)
    with pytest.raises(ImportError, match="bitsandbytes"):
        peft_logllm.quantization_config(4)
