"""LogLLM config, processor and model on a tiny random build (CPU, seconds)."""

from __future__ import annotations


import pytest
import torch

from logllm.modeling import LogLLMConfig, LogLLMForAnomalyDetection, LogLLMProcessor
from logllm.modeling.presets import build_tiny
from logllm.modeling.processing_logllm import IGNORE_INDEX

WINDOWS = [
    ["Receiving block blk_1 src 10.0.0.1", "PacketResponder 1 terminating"],
    ["Receiving block blk_2 src 10.0.0.2", "Exception in receiveBlock", "Exception in receiveBlock", "Deleting block"],
]


@pytest.fixture(scope="module")
def tiny():
    model, processor = build_tiny(seed=0)
    model.eval()
    return model, processor


# ---------------------------------------------------------------- config


def test_config_round_trip_rebuilds_sub_configs(tmp_path, tiny):
    model, _ = tiny
    model.config.save_pretrained(tmp_path)
    loaded = LogLLMConfig.from_pretrained(tmp_path)
    assert loaded.encoder_config.model_type == "bert"
    assert loaded.decoder_config.model_type == "llama"
    assert loaded.decoder_config.hidden_size == model.config.decoder_config.hidden_size
    assert loaded.log_token_id == model.config.log_token_id
    assert (loaded.max_lines_per_window, loaded.max_tokens_per_line) == (128, 32)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"projector_type": "conv"}, "projector_type"),
        ({"line_pooling": "max"}, "line_pooling"),
        ({"preprocessing": "drain"}, "preprocessing"),
        ({"max_lines_per_window": 0}, "max_lines_per_window"),
        ({"normal_answer": "same", "anomalous_answer": "same"}, "differ"),
        ({"decoder_config": {"model_type": "no-such-model"}}, "no-such-model"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogLLMConfig(**kwargs)


def test_config_accepts_other_decoders():
    config = LogLLMConfig(encoder_config={"model_type": "roberta"}, decoder_config={"model_type": "qwen2"})
    assert (config.encoder_config.model_type, config.decoder_config.model_type) == ("roberta", "qwen2")


# ---------------------------------------------------------------- processor


def test_processor_deduplicates_lines_and_indexes_placeholders(tiny):
    _, processor = tiny
    batch = processor(WINDOWS, preprocessed=True)
    distinct = list(dict.fromkeys(line for w in WINDOWS for line in w))
    assert batch["line_input_ids"].shape[0] == len(distinct) == 5
    assert batch["line_input_ids"].shape[1] <= processor.max_tokens_per_line
    expected = [distinct.index(line) for w in WINDOWS for line in w]
    assert batch["line_index"].tolist() == expected
    n_log = (batch["input_ids"] == processor.log_token_id).sum(dim=1).tolist()
    assert n_log == [len(w) for w in WINDOWS]


def test_processor_labels_cover_exactly_the_answer(tiny):
    _, processor = tiny
    batch = processor(WINDOWS, labels=[0, 1], preprocessed=True)
    ids = processor.prompt_ids
    for row, answer in zip(range(2), (ids.normal_answer, ids.anomalous_answer)):
        labels = batch["labels"][row]
        kept = labels[labels != IGNORE_INDEX].tolist()
        assert kept == answer
        positions = (labels != IGNORE_INDEX).nonzero().flatten()
        assert batch["input_ids"][row, positions].tolist() == answer
        # the score position's logit predicts the deciding token
        deciding = batch["input_ids"][row, batch["score_positions"][row] + 1].item()
        assert deciding == (ids.normal_token_id if row == 0 else ids.anomalous_token_id)


def test_processor_masks_raw_lines_unless_preprocessed(tiny):
    _, processor = tiny
    masked = processor([["Receiving block blk_1 src 10.0.0.1"], ["Receiving block blk_2 src 10.0.0.2"]])
    raw = processor([["Receiving block blk_1 src 10.0.0.1"], ["Receiving block blk_2 src 10.0.0.2"]], preprocessed=True)
    assert masked["line_input_ids"].shape[0] == 1  # both lines mask to the same text
    assert raw["line_input_ids"].shape[0] == 2


def test_processor_save_and_load(tmp_path, tiny):
    _, processor = tiny
    processor.save_pretrained(tmp_path)
    loaded = LogLLMProcessor.from_pretrained(tmp_path)
    assert loaded.prompt_ids == processor.prompt_ids
    assert loaded.log_token_id == processor.log_token_id
    assert (loaded.preprocessing, loaded.max_tokens_per_line) == (processor.preprocessing, processor.max_tokens_per_line)
    a, b = processor(WINDOWS, labels=[0, 1]), loaded(WINDOWS, labels=[0, 1])
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- model


def test_forward_loss_logits_and_score(tiny):
    model, processor = tiny
    batch = processor(WINDOWS, labels=[0, 1])
    out = model(**batch)
    assert out.loss is not None and torch.isfinite(out.loss)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    ids = processor.prompt_ids
    pos = out.logits[torch.arange(2), batch["score_positions"]]
    manual = pos[:, [ids.normal_token_id, ids.anomalous_token_id]].softmax(-1)[:, 1]
    torch.testing.assert_close(out.anomaly_score, manual)
    # the score does not depend on whether the answer is in the input (causal)
    unlabeled = model(**processor(WINDOWS))
    torch.testing.assert_close(unlabeled.anomaly_score, out.anomaly_score, atol=1e-5, rtol=1e-4)
    lean = model(**processor(WINDOWS), logits_to_keep=1)
    assert lean.logits.shape == (2, 1, model.config.decoder_config.vocab_size)
    torch.testing.assert_close(lean.anomaly_score, out.anomaly_score, atol=1e-5, rtol=1e-4)
    # log-odds and probability are the same score
    torch.testing.assert_close(torch.sigmoid(out.anomaly_logits), out.anomaly_score)


def test_loss_is_cross_entropy_on_answer_tokens_only(tiny):
    model, processor = tiny
    batch = processor(WINDOWS, labels=[0, 1])
    out = model(**batch)
    logits, labels = out.logits[:, :-1], batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(out.loss, expected)


def test_logits_to_keep_changes_neither_loss_nor_score(tiny):
    """Training asks for one position's logits (the loss uses only answer positions); nothing else may change."""
    model, processor = tiny
    batch = processor(WINDOWS, labels=[0, 1])
    full = model(**batch)
    lean = model(**batch, logits_to_keep=1)
    torch.testing.assert_close(lean.loss, full.loss)
    torch.testing.assert_close(lean.anomaly_score, full.anomaly_score)
    assert lean.logits.shape[1] == 1 < full.logits.shape[1]
    lean.loss.backward()  # and it trains


def test_line_vectors_fill_placeholders_in_row_major_order(tiny):
    model, processor = tiny
    batch = processor(WINDOWS, preprocessed=True)
    captured = {}

    def grab(module, args, kwargs):
        captured["embeds"] = kwargs["inputs_embeds"]

    handle = model.decoder.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**batch)
            features = model.model.get_line_features(model.get_line_vectors(batch["line_input_ids"], batch["line_attention_mask"]))
    finally:
        handle.remove()
    embeds = captured["embeds"]
    k = 0
    for row, window in enumerate(WINDOWS):
        positions = (batch["input_ids"][row] == processor.log_token_id).nonzero().flatten()
        for pos in positions:
            torch.testing.assert_close(embeds[row, pos], features[batch["line_index"][k]])
            k += 1
    # prompt text positions keep their token embeddings
    first = batch["input_ids"][0, 0]
    torch.testing.assert_close(embeds[0, 0], model.get_input_embeddings()(first))


def test_placeholder_count_mismatch_names_both_numbers(tiny):
    model, processor = tiny
    batch = processor(WINDOWS, preprocessed=True)
    batch["line_index"] = batch["line_index"][:-1]
    with pytest.raises(ValueError, match=r"5 line vectors, 6 placeholders"):
        model(**batch)


def test_deduplication_does_not_change_scores(tiny):
    model, processor = tiny
    with torch.no_grad():
        dedup = model(**processor(WINDOWS)).anomaly_score
        every = model(**processor(WINDOWS, deduplicate=False)).anomaly_score
    torch.testing.assert_close(dedup, every, atol=1e-5, rtol=1e-4)


def test_line_cache_reuses_encoder_outputs_across_batches(tiny):
    model, processor = tiny
    with torch.no_grad():
        plain = model(**processor(WINDOWS)).anomaly_score.tolist()
    cache = model.enable_line_cache()
    try:
        first = [r["score"] for r in model.detect(WINDOWS, processor, batch_size=1)]
        misses = cache.misses
        second = [r["score"] for r in model.detect(WINDOWS, processor, batch_size=1)]
        assert cache.misses == misses  # nothing re-encoded on the second pass
        assert cache.hits > 0
        assert first == pytest.approx(plain, abs=1e-5) and second == pytest.approx(plain, abs=1e-5)
        model.train()
        assert len(cache) == 0  # weights may change: cache emptied
    finally:
        model.eval()
        model.disable_line_cache()


def test_frozen_encoder_runs_in_eval_mode_and_trains_from_cached_line_vectors():
    model, processor = build_tiny(seed=2)
    batch = processor(WINDOWS, labels=[0, 1])
    model.set_training_stage(1)  # decoder only: the encoder is a fixed feature extractor
    model.train()
    assert not model.encoder.training and model.decoder.training
    uncached = model(**batch).loss
    cache = model.enable_line_cache()
    try:
        first = model(**batch).loss
        second = model(**batch).loss
        assert cache.hits > 0 and len(cache) > 0
        torch.testing.assert_close(first, uncached)
        torch.testing.assert_close(second, uncached)
        second.backward()
        assert all(p.grad is not None for p in model.decoder.parameters() if p.requires_grad)
        assert all(p.grad is None for p in model.encoder.parameters())
        model.set_training_stage(3)  # the encoder trains again: cache emptied, dropout back on
        model.train()
        assert len(cache) == 0 and model.encoder.training
        model(**batch)
        assert len(cache) == 0  # a trainable encoder is never served from the cache
    finally:
        model.disable_line_cache()


def test_freeze_encoder_keeps_stage_3_on_projector_and_decoder():
    model, _ = build_tiny(seed=1)
    model.set_training_stage(3)
    model.freeze_encoder()
    assert not model.encoder_trainable
    trainable = {model.part_of(name) for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"projector", "decoder"}
    assert model.set_training_stage(["projector", "decoder"]).keys() == {"projector", "decoder"}
    with pytest.raises(ValueError, match="unknown model part"):
        model.set_training_stage(["projector", "head"])


@pytest.mark.parametrize(
    "stage, trainable",
    [
        (1, {"decoder"}),
        ("2a", {"projector"}),
        ("2b", {"encoder", "projector"}),
        (2, {"encoder", "projector"}),
        (3, {"encoder", "projector", "decoder"}),
    ],
)
def test_training_stages_freeze_exactly_their_parts(stage, trainable):
    model, _ = build_tiny(seed=1)
    counts = model.set_training_stage(stage)
    assert set(counts) == trainable
    for name, param in model.named_parameters():
        assert param.requires_grad == (model.part_of(name) in trainable), name


def test_unknown_training_stage_is_rejected(tiny):
    with pytest.raises(ValueError, match="training stage"):
        tiny[0].set_training_stage(4)


def test_gradient_checkpointing_trains(tiny):
    model, processor = build_tiny(seed=2)
    model.set_training_stage(3)
    model.activation_checkpointing_enable()
    model.train()
    batch = processor(WINDOWS, labels=[0, 1])
    model(**batch).loss.backward()
    assert model.projector.linear.weight.grad is not None
    assert model.encoder.encoder.layer[0].attention.self.query.weight.grad is not None
    assert model.decoder.layers[0].self_attn.q_proj.weight.grad is not None


def test_stage_2a_leaves_encoder_without_graph():
    model, processor = build_tiny(seed=3)
    model.set_training_stage("2a")
    model.train()
    model(**processor(WINDOWS, labels=[0, 1])).loss.backward()
    assert model.projector.linear.weight.grad is not None
    assert all(p.grad is None for p in model.encoder.parameters())


# ---------------------------------------------------------------- detect


def test_detect_returns_one_dict_per_window(tiny):
    model, processor = tiny
    results = model.detect(WINDOWS, processor, threshold=0.5)
    assert len(results) == 2
    for r in results:
        assert set(r) == {"score", "anomalous", "line_scores"}
        assert 0.0 <= r["score"] <= 1.0 and r["anomalous"] == (r["score"] >= 0.5) and r["line_scores"] is None
    always = model.detect(WINDOWS, processor, threshold=0.0)
    assert all(r["anomalous"] for r in always)


def test_detect_scores_long_windows_as_chunks_and_counts_them(tiny):
    model, processor = tiny
    cap = processor.max_lines_per_window
    long_window = [f"event {chr(97 + i % 26)} happened {i % 7}" for i in range(cap + 5)]
    before = processor.stats["windows_chunked"]
    result = model.detect([long_window], processor, line_scores=True)
    assert processor.stats["windows_chunked"] == before + 1
    assert len(result[0]["line_scores"]) == len(long_window)  # no line dropped
    chunk_scores = [r["score"] for r in model.detect([long_window[:cap], long_window[cap:]], processor)]
    assert result[0]["score"] == pytest.approx(max(chunk_scores), abs=1e-6)


def test_bf16_scores_close_to_fp32(tiny):
    model, processor = build_tiny(seed=0)
    model.eval()
    fp32 = [r["score"] for r in model.detect(WINDOWS, processor)]
    bf16 = [r["score"] for r in model.to(torch.bfloat16).detect(WINDOWS, processor)]
    assert bf16 == pytest.approx(fp32, abs=0.02)


def test_device_map_placement_loads_and_scores(tmp_path, tiny):
    model, processor = tiny
    model.save_pretrained(tmp_path)
    assert {"BertLayer", "LlamaDecoderLayer"} <= set(model._no_split_modules)
    placed = LogLLMForAnomalyDetection.from_pretrained(tmp_path, device_map="auto")
    assert placed.device.type == "cpu"
    scores = [r["score"] for r in placed.detect(WINDOWS, processor)]
    assert scores == pytest.approx([r["score"] for r in model.detect(WINDOWS, processor)], abs=1e-5)


def test_default_preset_uses_the_real_minilm_weights():
    from safetensors import safe_open

    from logllm.modeling.presets import build_default, minilm_path

    model, processor = build_default(seed=0)
    with safe_open(str(minilm_path() / "model.safetensors"), "pt") as f:
        shipped = f.get_tensor("encoder.layer.5.attention.self.query.weight")
    torch.testing.assert_close(model.encoder.encoder.layer[5].attention.self.query.weight, shipped)
    assert model.config.encoder_config.hidden_size == 384
    assert processor.decoder_tokenizer.convert_ids_to_tokens(processor.log_token_id) == "<log>"
    assert model.get_input_embeddings().weight.shape[0] == len(processor.decoder_tokenizer)
