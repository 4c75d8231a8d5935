"""QLoRA on CPU, on each of bitsandbytes' CPU paths (what they are: logllm/modeling/adapters.py).

4-bit (NF4): the *packed* path (CPUs with AVX512-BF16, eval mode without gradients) and the *plain* path (every
CPU). Tests run the plain path on every machine, forced with `set_cpu_4bit_path(packed=False)` or by hiding
AVX512-BF16 from bitsandbytes, and the packed path where the CPU has it. The packed kernel is AVX512-BF16 code
and cannot run elsewhere; there the size rule is still checked against bitsandbytes' own repack (plain torch).
8-bit: the int8 matmul runs on `torch._int_mm` (bitsandbytes' kernel on AVX-512 CPUs) or on its float32 fallback
(other CPUs); `route_int8_matmul` sends it through either one on any machine.

Models that quantize have layer widths a real model has (multiples of 64): `build_tiny(hidden_size=64,
intermediate_size=128)`, and the offline default preset (decoder MLP 688 wide) for the mixed case.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch

bnb = pytest.importorskip("bitsandbytes")

from logllm.modeling import adapters  # noqa: E402
from logllm.modeling.adapters import (  # noqa: E402
    CpuQuantizationError,
    apply_lora,
    four_bit_layers,
    has_packed_cpu_path,
    load_quantized,
    packed_layout_problems,
    packed_layout_rule,
    set_cpu_4bit_path,
)
from logllm.modeling.presets import build_default, build_tiny  # noqa: E402

WINDOWS = [
    ["job started", "job finished"],
    ["job started", "disk failure on node"],
    ["open file", "read block 7", "close file"],
    ["kernel panic on node", "rebooting"],
]
LABELS = [0, 1, 0, 1]
WIDE = {"hidden_size": 64, "intermediate_size": 128}  # every layer fits the packed path
NO_PACKED_KERNEL = "this CPU has no AVX512-BF16: bitsandbytes' packed 4-bit kernel cannot run here"


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    model, processor = build_tiny(seed=0, **WIDE)
    path = tmp_path_factory.mktemp("tiny64")
    model.save_pretrained(path)
    return path, model.eval(), processor


def cpu_packed_for(path: str) -> bool:
    """`cpu_packed` for a 4-bit path name; skips the packed path on CPUs that do not have it."""
    if path == "packed" and not has_packed_cpu_path():
        pytest.skip(NO_PACKED_KERNEL)
    return path == "packed"


def packed_layers(model) -> list[str]:
    """4-bit layers whose weights bitsandbytes has repacked (what proves the packed path ran)."""
    return [n for n, m in four_bit_layers(model) if getattr(m.weight.quant_state, "packing_format_for_cpu", False)]


def dequantized_reference(quantized, original):
    """`original` with the weights the quantized model holds: what its layers compute in exact float32."""
    reference = copy.deepcopy(original)
    modules = dict(reference.named_modules())
    with torch.no_grad():
        for name, layer in quantized.named_modules():
            if isinstance(layer, bnb.nn.Linear4bit):
                assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False), "dequantize before scoring"
                weight = bnb.functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state)
            elif isinstance(layer, bnb.nn.Linear8bitLt):
                weight = layer.weight.data.float() * layer.weight.SCB[:, None] / 127
            else:
                continue
            modules[name].weight.copy_(weight)
    return reference.eval()


def scores(model, processor) -> list[float]:
    return [r["score"] for r in model.eval().detect(WINDOWS, processor)]


def against_same_weights(quantized, original, processor) -> tuple[float, dict[str, float]]:
    """Score with `quantized` and with float32 on its dequantised weights: (largest score difference, relative
    error of each quantised layer's output). A layer that computes garbage is off by ~1, the bfloat16 packed
    kernel by < 0.01, the plain path by 0 (it multiplies the same dequantised weights in float32)."""
    reference = dequantized_reference(quantized, original)
    names = [n for n, m in quantized.named_modules() if isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))]

    def run(model):
        outputs, modules = {}, dict(model.named_modules())
        hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o.detach().float()))
                 for n in names]
        try:
            return scores(model, processor), outputs
        finally:
            for hook in hooks:
                hook.remove()

    (ref_scores, ref_out), (got_scores, got_out) = run(reference), run(quantized)
    errors = {n: float((got_out[n] - ref_out[n]).norm() / ref_out[n].norm()) for n in names}
    return max(abs(a - b) for a, b in zip(got_scores, ref_scores)), errors


def lora_grads(peft_model, processor) -> dict[str, torch.Tensor]:
    """Gradients of every decoder LoRA weight after one training-mode backward pass."""
    peft_model.train()
    peft_model.zero_grad()
    peft_model(**processor(WINDOWS, labels=LABELS)).loss.backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters() if "lora_B" in n and ".decoder." in n}
    missing = [n for n, g in grads.items() if g is None or not torch.isfinite(g).all() or not g.abs().sum()]
    assert grads and not missing, f"adapters without a gradient: {missing}"
    return {n: g.clone() for n, g in grads.items()}


def route_int8_matmul(monkeypatch, path: str) -> list[str]:
    """Send bitsandbytes' CPU int8 matmul through `path` ("int_mm" or "fp32"); return the list of calls made.

    bitsandbytes registers `torch._int_mm` as its CPU kernel on AVX-512 CPUs and falls back to a float32 matmul
    (`backends.default.ops._int8_linear_matmul_impl`) elsewhere; both entry points are patched, so whichever one
    this CPU registered ends up on `path`.
    """
    import bitsandbytes.backends.default.ops as default_ops

    int_mm, fallback = torch._int_mm, default_ops._int8_linear_matmul_impl
    calls: list[str] = []

    def matmul(A, B, out=None):  # A (..., K) int8, B (N, K) int8 -> (..., N) int32
        calls.append(path)
        if path == "fp32":
            return fallback(A, B, out)
        result = int_mm(A.reshape(-1, A.shape[-1]), B.t()).reshape(*A.shape[:-1], B.shape[0])
        return out.copy_(result) if out is not None else result

    monkeypatch.setattr(torch, "_int_mm", lambda A, B_t: matmul(A, B_t.t()))
    monkeypatch.setattr(default_ops, "_int8_linear_matmul_impl", matmul)
    return calls


# ---------------------------------------------------------------------------- the size rule (any CPU)

@pytest.mark.parametrize(
    "in_features,out_features",
    [(32, 32), (64, 32), (96, 64), (128, 48), (128, 64), (256, 688), (688, 256), (704, 256), (256, 704)],
)
def test_packed_rule_matches_bitsandbytes_repack(in_features, out_features):
    """Our rule says exactly which sizes bitsandbytes' repack takes (the repack is plain torch: any CPU runs it)."""
    if not hasattr(bnb.functional, "_convert_weight_packed_for_cpu"):
        pytest.skip(f"bitsandbytes {bnb.__version__} has no packed CPU path")
    torch.manual_seed(0)
    layer = bnb.nn.Linear4bit(in_features, out_features, bias=False, compute_dtype=torch.float32, quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(torch.randn(out_features, in_features), requires_grad=False, quant_type="nf4",
                                     module=layer)
    layer = layer.to("cpu")
    rule = packed_layout_rule(in_features, out_features)
    try:
        bnb.functional._convert_weight_packed_for_cpu(layer.weight.data.clone(), copy.deepcopy(layer.weight.quant_state))
    except (RuntimeError, AssertionError):
        assert rule is not None, f"{in_features} -> {out_features}: bitsandbytes refuses a size our rule accepts"
    else:
        assert rule is None, f"{in_features} -> {out_features}: bitsandbytes takes a size our rule refuses ({rule})"


def test_packed_true_names_every_layer_that_cannot_take_it(tmp_path, monkeypatch):
    """The error names each layer, its size and the rule (no forward runs, so any CPU can check it)."""
    model, _ = build_tiny(seed=0, hidden_size=64, intermediate_size=96)  # down_proj: 96 inputs, not whole blocks
    model.save_pretrained(tmp_path)
    quantized = load_quantized(tmp_path, bits=4, cpu_packed=False)
    monkeypatch.setattr(adapters, "has_packed_cpu_path", lambda: True)
    with pytest.raises(CpuQuantizationError) as err:
        set_cpu_4bit_path(quantized, packed=True)
    message = str(err.value)
    for layer in (0, 1):
        assert (f"model.decoder.layers.{layer}.mlp.down_proj (96 -> 64): input width 96 is not a multiple of the "
                "quantisation block size 64") in message
    assert "q_proj" not in message and "2 of 14 4-bit layer(s)" in message
    # the automatic choice runs exactly those two on the plain path and the others packed
    assert set_cpu_4bit_path(quantized) == [f"model.decoder.layers.{i}.mlp.down_proj" for i in (0, 1)]
    assert [n for n, m in four_bit_layers(quantized) if m.support_avx512bf16_for_cpu] == [
        n for n, _ in four_bit_layers(quantized) if not n.endswith("down_proj")
    ]


def test_a_cpu_without_avx512bf16_runs_everything_on_the_plain_path(saved_tiny, monkeypatch):
    """bitsandbytes asked once more, now with AVX512-BF16 hidden: every layer plain, packed=True refused clearly."""
    path, original, processor = saved_tiny
    monkeypatch.setattr(bnb.functional, "has_avx512bf16", lambda: False)
    monkeypatch.setattr(bnb.nn.modules, "has_avx512bf16", lambda: False)
    quantized = load_quantized(path, bits=4)
    assert not any(m.support_avx512bf16_for_cpu for _, m in four_bit_layers(quantized))
    score_diff, errors = against_same_weights(quantized, original, processor)
    assert score_diff < 1e-5 and max(errors.values()) < 1e-5
    assert packed_layers(quantized) == []
    with pytest.raises(CpuQuantizationError, match="no AVX512-BF16"):
        load_quantized(path, bits=4, cpu_packed=True)


# ---------------------------------------------------------------------------- 4-bit: inference and training

@pytest.mark.parametrize("cpu_path", ["packed", "plain"])
def test_4bit_scores_agree_with_fp32(saved_tiny, cpu_path):
    path, original, processor = saved_tiny
    quantized = load_quantized(path, bits=4, cpu_packed=cpu_packed_for(cpu_path))
    assert isinstance(quantized.decoder.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    for kept in (quantized.projector.linear, quantized.lm_head, quantized.encoder.encoder.layer[0].attention.self.query):
        assert type(kept) is torch.nn.Linear
    score_diff, errors = against_same_weights(quantized, original, processor)
    assert len(packed_layers(quantized)) == (14 if cpu_path == "packed" else 0) and len(errors) == 14
    # same weights, only the arithmetic differs (bfloat16 kernel on the packed path, float32 on the plain one)
    assert max(errors.values()) < (0.03 if cpu_path == "packed" else 1e-5), errors
    assert score_diff < (2e-3 if cpu_path == "packed" else 1e-5)


@pytest.mark.parametrize("cpu_path", ["packed", "plain"])
def test_qlora_4bit_trains_adapters_after_scoring(saved_tiny, cpu_path):
    """Score (on `cpu_path`), add LoRA, train, validate, train again: every adapter keeps its gradient."""
    path, _, processor = saved_tiny
    quantized = load_quantized(path, bits=4, cpu_packed=cpu_packed_for(cpu_path))
    before = scores(quantized, processor)
    assert len(packed_layers(quantized)) == (14 if cpu_path == "packed" else 0)
    peft_model = apply_lora(quantized, dropout=0.0)  # no dropout: two passes must agree
    assert packed_layers(peft_model) == []  # unpacked: the packed layout has no backward
    first = lora_grads(peft_model, processor)
    assert scores(peft_model, processor) == pytest.approx(before, abs=2e-3)  # B = 0: adapters change nothing yet
    assert packed_layers(peft_model) == []  # a validation pass leaves training layers plain
    again = lora_grads(peft_model, processor)
    assert set(again) == set(first)
    for name, grad in first.items():
        assert again[name] == pytest.approx(grad, abs=1e-6), name
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    optimizer.step()
    assert scores(peft_model, processor) != pytest.approx(before, abs=1e-6)  # the adapters moved the scores


def test_set_cpu_4bit_path_unpacks_layers_packed_by_scoring(saved_tiny):
    """Layers an eval pass packed go back to the plain layout and hold the same model (bf16-rounded scales)."""
    path, original, processor = saved_tiny
    quantized = load_quantized(path, bits=4, cpu_packed=cpu_packed_for("packed"))
    packed_scores = scores(quantized, processor)
    assert len(packed_layers(quantized)) == 14
    assert set_cpu_4bit_path(quantized, packed=False) == [n for n, _ in four_bit_layers(quantized)]
    assert packed_layers(quantized) == []
    score_diff, errors = against_same_weights(quantized, original, processor)  # dequantises the unpacked weights
    assert score_diff < 1e-5 and max(errors.values()) < 1e-5 and packed_layers(quantized) == []
    assert scores(quantized, processor) == pytest.approx(packed_scores, abs=2e-3)


# ---------------------------------------------------------------------------- 8-bit, on both int8 kernels

@pytest.mark.parametrize("int8_path", ["int_mm", "fp32"])
def test_qlora_8bit_scores_and_trains_on_both_int8_kernels(saved_tiny, monkeypatch, int8_path):
    path, original, processor = saved_tiny
    calls = route_int8_matmul(monkeypatch, int8_path)
    quantized = load_quantized(path, bits=8)
    assert isinstance(quantized.decoder.layers[0].mlp.down_proj, bnb.nn.Linear8bitLt)
    score_diff, errors = against_same_weights(quantized, original, processor)
    assert calls and set(calls) == {int8_path}
    assert max(errors.values()) < 0.06 and score_diff < 0.01, errors  # int8 activations are the only difference
    peft_model = apply_lora(quantized, dropout=0.0)  # no dropout: two passes must agree
    first = lora_grads(peft_model, processor)
    scores(peft_model, processor)
    again = lora_grads(peft_model, processor)
    for name, grad in first.items():
        assert again[name] == pytest.approx(grad, abs=1e-6), name


# ---------------------------------------------------------------------------- the offline default preset

@pytest.fixture(scope="module")
def saved_default(tmp_path_factory):
    model, processor = build_default(seed=0)
    path = tmp_path_factory.mktemp("default")
    model.save_pretrained(path)
    return path, model.eval(), processor


@pytest.mark.parametrize("cpu_path", ["machine", "plain"])
def test_default_preset_quantizes_scores_and_trains_in_4bit(saved_default, cpu_path, caplog):
    """The default decoder's MLP (688 wide) does not fit the packed path: those layers run plain, the rest
    packed where the CPU has it; `plain` forces every layer onto the plain path."""
    path, original, processor = saved_default
    with caplog.at_level(logging.INFO, logger="logllm.modeling.adapters"):
        quantized = load_quantized(path, bits=4, cpu_packed=None if cpu_path == "machine" else False)
    score_diff, errors = against_same_weights(quantized, original, processor)
    mlp = {n for n, _ in four_bit_layers(quantized) if ".mlp." in n}
    assert len(four_bit_layers(quantized)) == 28 and len(mlp) == 12
    expect_packed = cpu_path == "machine" and has_packed_cpu_path()
    assert set(packed_layers(quantized)) == ({n for n, _ in four_bit_layers(quantized)} - mlp if expect_packed else set())
    if expect_packed:
        assert "12 of 28 4-bit layer(s) run on bitsandbytes' plain CPU path" in caplog.text
    assert max(errors.values()) < (0.03 if expect_packed else 1e-5), errors
    assert score_diff < (5e-3 if expect_packed else 1e-5)
    peft_model = apply_lora(quantized, lora_encoder=False, dropout=0.0)
    lora_grads(peft_model, processor)


def test_default_preset_refuses_packed_true_naming_its_mlp_layers(saved_default, monkeypatch):
    path, _, _ = saved_default
    if not has_packed_cpu_path():
        with pytest.raises(CpuQuantizationError, match="no AVX512-BF16"):
            load_quantized(path, bits=4, cpu_packed=True)
        monkeypatch.setattr(adapters, "has_packed_cpu_path", lambda: True)  # the size rule needs no forward
    quantized = load_quantized(path, bits=4, cpu_packed=False)
    with pytest.raises(CpuQuantizationError) as err:
        set_cpu_4bit_path(quantized, packed=True)
    assert "model.decoder.layers.3.mlp.up_proj (256 -> 688): output width 688 is not a multiple of 32" in str(err.value)
    assert "model.decoder.layers.0.mlp.down_proj (688 -> 256): input width 688" in str(err.value)
    assert len(packed_layout_problems(quantized)) == 12
