"""LogLLM: log anomaly detection with a line encoder, a projector and a causal language model.

Guan et al., "LogLLM: Log-based Anomaly Detection Using Large Language Models" (arXiv 2411.08561).
Each log line is encoded by a BERT-like encoder; its [CLS] state goes through linear + tanh (BERT's
pooler) and a projector into the decoder's embedding space, where it replaces one `<log>` placeholder
of the prompt

    "Below is a sequence of system log messages:" <log> ... <log> ". Is this sequence normal or anomalous?"

The decoder is trained to answer "The sequence is normal." / "The sequence is anomalous."; the
anomaly score is P(anomalous) at the first answer token where the two answers differ.

The file reads top to bottom: output dataclass, small modules, the line-feature cache, the
pretrained base class, the model (forward, scores, training stages, `detect`, `from_components`).
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_logllm import LogLLMConfig

if TYPE_CHECKING:
    from .processing_logllm import LogLLMProcessor

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100

# The training stages: name -> the parts it trains (official code: guanwei49/LogLLM train.py). "2" is the paper's
# single stage 2; the official code splits it into "2a" (projector warm-up) and "2b" (= "2"). The line pooler, when
# the config has one, trains with the encoder. The one stage table: recipes, run summaries and model cards read it.
MODEL_PARTS = ("encoder", "projector", "decoder")
TRAINING_STAGES: dict[str, tuple[str, ...]] = {
    "1": ("decoder",),
    "2": ("encoder", "projector"),
    "2a": ("projector",),
    "2b": ("encoder", "projector"),
    "3": ("encoder", "projector", "decoder"),
}


def training_parts(stage: int | str | Iterable[str]) -> tuple[str, ...]:
    """The parts `stage` trains, in `MODEL_PARTS` order: a stage of `TRAINING_STAGES` (1, "2a", ...) or the parts
    themselves ("projector + decoder" or ["projector", "decoder"])."""
    if isinstance(stage, (int, str)) and str(stage) in TRAINING_STAGES:
        return TRAINING_STAGES[str(stage)]
    names = str(stage).split("+") if isinstance(stage, (int, str)) else [str(part) for part in stage]
    parts = {name.strip() for name in names if name.strip()}
    if not parts or parts - set(MODEL_PARTS):
        raise ValueError(
            f"training stage must be one of {list(TRAINING_STAGES)} or parts of {list(MODEL_PARTS)} joined by '+' "
            f"(e.g. 'projector + decoder'); got {stage!r}"
        )
    return tuple(part for part in MODEL_PARTS if part in parts)


@dataclass
class LogLLMOutput(ModelOutput):
    """
    Output of [`LogLLMForAnomalyDetection`].

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` are given):
            Cross-entropy on the answer tokens.
        logits (`torch.FloatTensor`):
            Decoder logits, `(batch, seq_len, vocab)`; `(batch, vocab)` at the score positions only when
            the forward was called with `only_score_logits=True`.
        anomaly_score (`torch.FloatTensor` of shape `(batch,)`):
            P(anomalous): softmax over the two answers' deciding tokens at the deciding position.
        hidden_states, attentions (`tuple(torch.FloatTensor)`, *optional*):
            The decoder's, when asked for.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    anomaly_score: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class LogLLMLinePooler(nn.Module):
    """[CLS] state -> linear + tanh, BERT's pooler, for encoders that come without one."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))  # (N, H_enc)


class LogLLMProjector(nn.Module):
    """Maps pooled line vectors to decoder input embeddings: one linear layer (paper) or a small MLP."""

    def __init__(self, config: LogLLMConfig):
        super().__init__()
        enc, dec = config.encoder_config.hidden_size, config.decoder_config.hidden_size
        self.projector_type = config.projector_type
        if config.projector_type == "linear":
            self.linear = nn.Linear(enc, dec, bias=config.projector_bias)
        else:
            self.linear = nn.Linear(enc, dec, bias=config.projector_bias)
            self.act = nn.GELU()
            self.linear_2 = nn.Linear(dec, dec, bias=config.projector_bias)

    def forward(self, line_vectors: torch.Tensor) -> torch.Tensor:
        hidden = self.linear(line_vectors)  # (N, H_dec)
        if self.projector_type == "mlp":
            hidden = self.linear_2(self.act(hidden))
        return hidden


class LineFeatureCache:
    """Inference cache of pooled encoder outputs keyed by a line's encoder token ids (LRU).

    Token ids identify the preprocessed, truncated line exactly, so equal keys mean equal encoder
    outputs. Only used without gradients in eval mode, and emptied whenever the model goes back to
    training or changes training stage.
    """

    def __init__(self, max_entries: int = 50_000):
        self.max_entries = max_entries
        self._store: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: tuple[int, ...]) -> torch.Tensor | None:
        value = self._store.get(key)
        if value is not None:
            self._store.move_to_end(key)
        return value

    def put(self, key: tuple[int, ...], value: torch.Tensor) -> None:
        self._store[key] = value
        self._store.move_to_end(key)
        while len(self._store) > self.max_entries:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()
        self.hits = self.misses = 0


class LogLLMPreTrainedModel(PreTrainedModel):
    config_class = LogLLMConfig
    base_model_prefix = ""
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _skip_keys_device_placement = ["past_key_values"]

    def _init_weights(self, module: nn.Module) -> None:
        # Sub-models (encoder, decoder) initialise themselves; this covers the projector and pooler.
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)


class LogLLMForAnomalyDetection(LogLLMPreTrainedModel):
    r"""
    LogLLM: encoder -> line pooler -> projector -> causal decoder, answering "normal" or "anomalous".

    Args:
        config ([`LogLLMConfig`]):
            Model configuration.
        encoder ([`PreTrainedModel`], *optional*):
            An already built (e.g. pretrained) encoder; built from `config.encoder_config` when omitted.
        decoder ([`PreTrainedModel`], *optional*):
            An already built causal LM; built from `config.decoder_config` when omitted.
    """

    def __init__(self, config: LogLLMConfig, encoder: PreTrainedModel | None = None, decoder: PreTrainedModel | None = None):
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder_config)
        self.decoder = decoder if decoder is not None else AutoModelForCausalLM.from_config(config.decoder_config)
        # keep one source of truth for the sub-configs (resizing embeddings updates the decoder's)
        self.config.encoder_config = self.encoder.config
        self.config.decoder_config = self.decoder.config
        encoder_has_pooler = getattr(self.encoder, "pooler", None) is not None
        self.line_pooler = (
            LogLLMLinePooler(config.encoder_config.hidden_size)
            if config.line_pooling == "pooler" and not encoder_has_pooler
            else None
        )
        self.projector = LogLLMProjector(config)
        self._line_cache: LineFeatureCache | None = None
        self.post_init()

    # ------------------------------------------------------------------ embeddings plumbing

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.decoder.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.decoder.get_output_embeddings()

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True) -> nn.Embedding:
        """Resize the decoder's token embeddings (e.g. after adding `<log>`) and keep the config in sync."""
        embeddings = self.decoder.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.config.decoder_config = self.decoder.config
        return embeddings

    # ------------------------------------------------------------------ line features

    def enable_line_cache(self, max_entries: int = 50_000) -> LineFeatureCache:
        """Keep pooled encoder outputs across forward calls: at inference, and in training while the encoder is
        frozen (its outputs cannot change then). Cleared when the encoder may change (`train()` with a trainable
        encoder, `set_training_stage`, `freeze_encoder`)."""
        self._line_cache = LineFeatureCache(max_entries)
        return self._line_cache

    @property
    def line_cache(self) -> LineFeatureCache | None:
        return self._line_cache

    def disable_line_cache(self) -> None:
        self._line_cache = None

    def clear_line_cache(self) -> None:
        if self._line_cache is not None:
            self._line_cache.clear()

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.encoder_trainable:
            self.clear_line_cache()  # encoder weights are about to change
        elif mode:
            # A frozen encoder is a fixed feature extractor: no dropout noise, and its line vectors can be cached.
            for part in self._encoder_parts():
                part.eval()
        return self

    def _encoder_parts(self) -> list[nn.Module]:
        return [self.encoder] + ([self.line_pooler] if self.line_pooler is not None else [])

    @property
    def encoder_trainable(self) -> bool:
        """Whether any encoder (or line pooler) parameter is trained in the current stage."""
        return any(p.requires_grad for part in self._encoder_parts() for p in part.parameters())

    def freeze_encoder(self) -> None:
        """Stop training the encoder and line pooler (e.g. a stage 3 that trains projector + decoder only)."""
        for part in self._encoder_parts():
            part.requires_grad_(False)
        self.clear_line_cache()
        self.train(self.training)  # a frozen encoder runs in eval mode while the rest trains

    def _pool_lines(self, line_input_ids: torch.LongTensor, line_attention_mask: torch.Tensor) -> torch.Tensor:
        """Encode lines and pool each to one vector, `(N, H_enc)`."""
        outputs = self.encoder(input_ids=line_input_ids, attention_mask=line_attention_mask)
        if self.config.line_pooling == "mean":
            mask = line_attention_mask.unsqueeze(-1).to(outputs.last_hidden_state.dtype)  # (N, T, 1)
            return (outputs.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.line_pooler is not None:
            return self.line_pooler(outputs.last_hidden_state)
        return outputs.pooler_output

    def _pool_lines_cached(self, line_input_ids: torch.LongTensor, line_attention_mask: torch.Tensor) -> torch.Tensor:
        cache = self._line_cache
        keys = [tuple(ids[mask.bool()].tolist()) for ids, mask in zip(line_input_ids, line_attention_mask)]
        found = [cache.get(k) for k in keys]
        missing = [i for i, v in enumerate(found) if v is None]
        cache.hits += len(keys) - len(missing)
        cache.misses += len(missing)
        if missing:
            idx = torch.tensor(missing, device=line_input_ids.device)
            mask = line_attention_mask[idx]
            width = int(mask.sum(-1).max())
            fresh = self._pool_lines(line_input_ids[idx, :width], mask[:, :width])
            for i, vector in zip(missing, fresh):
                found[i] = vector
                cache.put(keys[i], vector)
        return torch.stack(found)

    def get_line_features(self, line_input_ids: torch.LongTensor, line_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode, pool and project lines: `(N, T)` token ids -> `(N, H_dec)` decoder embeddings."""
        if line_attention_mask is None:
            line_attention_mask = torch.ones_like(line_input_ids)
        encoder_fixed = not self.encoder.training and (not torch.is_grad_enabled() or not self.encoder_trainable)
        if self._line_cache is not None and encoder_fixed:
            with torch.no_grad():
                pooled = self._pool_lines_cached(line_input_ids, line_attention_mask)
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.encoder_trainable):
                pooled = self._pool_lines(line_input_ids, line_attention_mask)  # (N, H_enc)
        pooled = pooled.to(self._projector_dtype())
        return self.projector(pooled)  # (N, H_dec)

    def _projector_dtype(self) -> torch.dtype:
        for p in self.projector.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.float32

    def get_placeholder_mask(self, input_ids: torch.LongTensor, inputs_embeds: torch.Tensor, line_features: torch.Tensor) -> torch.Tensor:
        """Positions of `<log>` placeholders; their count must equal the number of line vectors."""
        if self.config.log_token_id is None:
            raise ValueError("config.log_token_id is not set; build the model with presets or from_components")
        mask = input_ids == self.config.log_token_id  # (B, L)
        n_placeholders, n_lines = int(mask.sum()), line_features.shape[0]
        if n_placeholders != n_lines:
            raise ValueError(
                f"Log lines and <log> placeholders do not match: {n_lines} line vectors, {n_placeholders} "
                "placeholders in input_ids"
            )
        return mask.unsqueeze(-1).expand_as(inputs_embeds).to(inputs_embeds.device)

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        line_input_ids: torch.LongTensor | None = None,
        line_attention_mask: torch.Tensor | None = None,
        line_index: torch.LongTensor | None = None,
        score_positions: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        only_score_logits: bool = False,
        answer_logits_only: bool = False,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs: Any,
    ) -> LogLLMOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, seq_len)`):
                Decoder prompt ids with one `config.log_token_id` per log line (from [`LogLLMProcessor`]).
            attention_mask (`torch.Tensor` of shape `(batch, seq_len)`, *optional*):
                1 for prompt tokens, 0 for padding.
            line_input_ids (`torch.LongTensor` of shape `(n_distinct, tokens)`):
                Encoder ids of the batch's distinct lines.
            line_attention_mask (`torch.Tensor` of shape `(n_distinct, tokens)`, *optional*):
                Encoder attention mask.
            line_index (`torch.LongTensor` of shape `(n_placeholders,)`, *optional*):
                For each placeholder in row-major order, its row of `line_input_ids`; identity when omitted.
            score_positions (`torch.LongTensor` of shape `(batch,)`, *optional*):
                Index of the logit that predicts the deciding answer token; found from `labels` or the last
                attended position when omitted.
            labels (`torch.LongTensor` of shape `(batch, seq_len)`, *optional*):
                Answer token ids, -100 elsewhere; gives `loss`.
            only_score_logits (`bool`, *optional*, defaults to `False`):
                Compute the LM head only at the score positions (inference; saves `seq_len x vocab` memory).
            answer_logits_only (`bool`, *optional*, defaults to `False`):
                With `labels`: compute the LM head only at the positions that predict answer tokens (training;
                the prompt's logits carry no loss, and a full-vocabulary head over every position dominates a
                small decoder's step). `logits` then has shape `(batch, n_kept, vocab)`.
        """
        if input_ids is None:
            raise ValueError("input_ids are required (the <log> placeholders are found in them)")
        inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, L, H_dec)
        if line_input_ids is not None:
            line_features = self.get_line_features(line_input_ids, line_attention_mask)  # (N_distinct, H_dec)
            if line_index is not None:
                line_features = line_features[line_index.to(line_features.device)]  # (N_placeholders, H_dec)
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, line_features)
            line_features = line_features.to(inputs_embeds.device, inputs_embeds.dtype)
            inputs_embeds = inputs_embeds.masked_scatter(mask, line_features)
        elif (input_ids == self.config.log_token_id).any():
            raise ValueError("input_ids hold <log> placeholders but no line_input_ids were given")

        if score_positions is None:
            score_positions = self._find_score_positions(labels, attention_mask, input_ids)
        decoder_kwargs: dict[str, Any] = {}
        if only_score_logits and self._decoder_accepts_logits_to_keep():
            decoder_kwargs["logits_to_keep"] = torch.unique(score_positions)
        elif answer_logits_only and labels is not None and self._decoder_accepts_logits_to_keep():
            predicting = (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().flatten()  # logit i predicts token i+1
            decoder_kwargs["logits_to_keep"] = torch.unique(torch.cat([predicting, score_positions.to(predicting.device)]))
        outputs = self.decoder(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            return_dict=True,
            **decoder_kwargs,
            **kwargs,
        )
        logits = outputs.logits
        loss = None
        if "logits_to_keep" in decoder_kwargs:
            kept = decoder_kwargs["logits_to_keep"].to(logits.device)
            column = torch.searchsorted(kept, score_positions.to(logits.device))
            score_logits = logits[torch.arange(logits.shape[0], device=logits.device), column]  # (B, V)
            if only_score_logits:
                logits = score_logits
            else:  # answer_logits_only: (B, K, V) logits at `kept`, each predicting the token after it
                target = labels.to(logits.device)[:, kept + 1]  # (B, K)
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX)
        else:
            rows = torch.arange(logits.shape[0], device=logits.device)
            score_logits = logits[rows, score_positions.to(logits.device)]  # (B, V)
            if only_score_logits:
                logits = score_logits

        if loss is None and labels is not None and not only_score_logits:
            loss = self._answer_loss(logits, labels)
        return LogLLMOutput(
            loss=loss,
            logits=logits,
            anomaly_score=self._anomaly_score(score_logits),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def _decoder_accepts_logits_to_keep(self) -> bool:
        return "logits_to_keep" in inspect.signature(self.decoder.forward).parameters

    def _find_score_positions(self, labels, attention_mask, input_ids) -> torch.LongTensor:
        """Fallback when the processor's `score_positions` are missing."""
        if labels is not None:
            deciding = (labels == self.config.normal_token_id) | (labels == self.config.anomalous_token_id)
            if not bool(deciding.any(dim=1).all()):
                raise ValueError("some labels rows hold neither answer's deciding token; pass score_positions")
            return deciding.int().argmax(dim=1) - 1
        if attention_mask is None:
            return torch.full((input_ids.shape[0],), input_ids.shape[1] - 1, device=input_ids.device)
        return attention_mask.long().sum(dim=1) - 1

    @staticmethod
    def _answer_loss(logits: torch.Tensor, labels: torch.LongTensor) -> torch.Tensor:
        shift_logits = logits[:, :-1].float()  # (B, L-1, V)
        shift_labels = labels[:, 1:].to(logits.device)  # (B, L-1)
        return F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), ignore_index=IGNORE_INDEX)

    def _anomaly_score(self, score_logits: torch.Tensor) -> torch.Tensor | None:
        """P(anomalous) renormalised over the two deciding tokens, `(B,)`."""
        normal_id, anomalous_id = self.config.normal_token_id, self.config.anomalous_token_id
        if normal_id is None or anomalous_id is None:
            return None
        pair = score_logits[:, [normal_id, anomalous_id]].float()  # (B, 2)
        return pair.softmax(dim=-1)[:, 1]

    # ------------------------------------------------------------------ training stages

    def set_training_stage(self, stage: int | str | Iterable[str]) -> dict[str, int]:
        """Freeze everything except what `stage` trains; returns trainable counts per part.

        A stage of `TRAINING_STAGES` (1: decoder · "2a": projector · "2b" or 2: encoder (+ pooler) and projector ·
        3: everything) or the parts themselves, e.g. "projector + decoder" (stage 3 with the encoder frozen).
        With LoRA adapters on a part, only its adapter weights (and `modules_to_save` copies) train.
        """
        parts = training_parts(stage)
        parts += ("line_pooler",) if "encoder" in parts else ()
        has_adapters = any("lora_" in name for name, _ in self.named_parameters())
        counts: dict[str, int] = {}
        for name, param in self.named_parameters():
            part = name.split(".", 1)[0]
            trainable = part in parts and param.is_floating_point()
            if trainable and has_adapters:
                # adapters on: only LoRA weights and the `modules_to_save` copies (projector) train
                trainable = "lora_" in name or ".modules_to_save." in name
            param.requires_grad_(trainable)
            if trainable:
                counts[part] = counts.get(part, 0) + param.numel()
        self.clear_line_cache()
        self.train(self.training)  # a frozen encoder runs in eval mode while the rest trains
        logger.info("training stage %s: trainable parameters %s", stage, counts)
        return counts

    # ------------------------------------------------------------------ detection helper

    @torch.no_grad()
    def detect(
        self,
        windows: list[list[str]],
        processor: LogLLMProcessor,
        threshold: float = 0.5,
        batch_size: int = 8,
        line_scores: bool = False,
        preprocessed: bool = False,
        use_cache: bool = True,
        show_progress: bool = False,
    ) -> list[dict[str, Any]]:
        """Score windows of log lines; one dict per window: `score`, `anomalous`, `line_scores`.

        Windows longer than `max_lines_per_window` are split into chunks (warned, counted in
        `processor.stats`); the window's score is its highest chunk score. With `line_scores=True`
        each line gets `score(window) - score(window without that distinct line)` (leave-one-out over
        the chunk's distinct lines): positive values pushed the window towards "anomalous".
        """
        processor.check_config(self.config)
        processor._validate_windows(windows)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = self._model_texts(windows, processor, preprocessed)
        chunks, owners = self._split_into_chunks(texts, processor)

        was_training, previous_cache = self.training, self._line_cache
        self.eval()
        if use_cache and self._line_cache is None:
            self._line_cache = LineFeatureCache()
        elif not use_cache:
            self._line_cache = None
        try:
            chunk_scores = self._score_windows(chunks, processor, batch_size, show_progress)
            chunk_line_scores = (
                self._leave_one_out(chunks, chunk_scores, processor, batch_size, show_progress) if line_scores else None
            )
        finally:
            self._line_cache = previous_cache
            self.train(was_training)

        results: list[dict[str, Any]] = [{"score": 0.0, "anomalous": False, "line_scores": [] if line_scores else None} for _ in windows]
        for c, w in enumerate(owners):
            results[w]["score"] = max(results[w]["score"], chunk_scores[c])
            if chunk_line_scores is not None:
                results[w]["line_scores"].extend(chunk_line_scores[c])
        for r in results:
            r["anomalous"] = bool(r["score"] >= threshold)
        return results

    @staticmethod
    def _model_texts(windows, processor, preprocessed: bool) -> list[list[str]]:
        if preprocessed:
            return [list(w) for w in windows]
        flat = processor.preprocess_lines([line for w in windows for line in w])
        it = iter(flat)
        return [[next(it) for _ in w] for w in windows]

    @staticmethod
    def _split_into_chunks(texts, processor) -> tuple[list[list[str]], list[int]]:
        chunks, owners = [], []
        for w, window in enumerate(texts):
            parts = processor.split_long_window(window)
            if len(parts) > 1:
                logger.warning(
                    "window %d has %d lines > max_lines_per_window=%d: scored as %d chunks (window score = max)",
                    w, len(window), processor.max_lines_per_window, len(parts),
                )
                processor.stats["windows_split"] += 1
            chunks.extend(parts)
            owners.extend([w] * len(parts))
        return chunks, owners

    def _score_windows(self, windows: list[list[str]], processor, batch_size: int, show_progress: bool = False) -> list[float]:
        from tqdm.auto import tqdm

        scores: list[float] = []
        starts = range(0, len(windows), batch_size)
        for start in tqdm(starts, desc="scoring windows", disable=not show_progress, total=len(starts)):
            batch = processor(windows[start : start + batch_size], preprocessed=True).to(self.device)
            out = self(**batch, only_score_logits=True)
            scores.extend(out.anomaly_score.float().cpu().tolist())
        return scores

    def _leave_one_out(self, chunks, chunk_scores, processor, batch_size: int, show_progress: bool) -> list[list[float]]:
        variants, keys = [], []
        for c, chunk in enumerate(chunks):
            distinct = list(dict.fromkeys(chunk))
            if len(distinct) < 2:
                continue
            for line in distinct:
                variants.append([x for x in chunk if x != line])
                keys.append((c, line))
        variant_scores = self._score_windows(variants, processor, batch_size, show_progress) if variants else []
        effect = {key: score for key, score in zip(keys, variant_scores)}
        per_chunk = []
        for c, chunk in enumerate(chunks):
            base = chunk_scores[c]
            # a chunk of one distinct line: removing it leaves nothing, so the line carries the whole score
            per_chunk.append([base - effect[(c, line)] if (c, line) in effect else base for line in chunk])
        return per_chunk

    # ------------------------------------------------------------------ building from pretrained parts

    @classmethod
    def from_components(
        cls,
        encoder: str | Path | PreTrainedModel,
        decoder: str | Path | PreTrainedModel,
        processor: LogLLMProcessor | None = None,
        encoder_kwargs: dict[str, Any] | None = None,
        decoder_kwargs: dict[str, Any] | None = None,
        **config_kwargs: Any,
    ) -> LogLLMForAnomalyDetection:
        """Join a pretrained encoder and causal LM (Hub ids, local folders or models) into a LogLLM.

        `processor` defaults to `LogLLMProcessor.from_components(encoder, decoder)` (which needs ids or
        folders); the decoder embeddings are resized for its `<log>` token and the answer ids are taken
        from it. `decoder_kwargs` go to `AutoModelForCausalLM.from_pretrained` (e.g. `dtype`,
        `quantization_config` for a 4-bit decoder).
        """
        from .processing_logllm import LogLLMProcessor

        if processor is None:
            if not isinstance(encoder, (str, Path)) or not isinstance(decoder, (str, Path)):
                raise ValueError("pass `processor=` when encoder/decoder are model objects (their tokenizers are needed)")
            processor = LogLLMProcessor.from_components(encoder, decoder)
        if isinstance(encoder, (str, Path)):
            encoder = AutoModel.from_pretrained(str(encoder), **(encoder_kwargs or {}))
        if isinstance(decoder, (str, Path)):
            decoder = AutoModelForCausalLM.from_pretrained(str(decoder), **(decoder_kwargs or {}))
        n_tokens = len(processor.decoder_tokenizer)
        if decoder.get_input_embeddings().weight.shape[0] < n_tokens:
            decoder.resize_token_embeddings(n_tokens, mean_resizing=False)
        ids = processor.prompt_ids
        config = LogLLMConfig(
            encoder_config=encoder.config,
            decoder_config=decoder.config,
            log_token_id=processor.log_token_id,
            log_token=processor.log_token,
            normal_token_id=ids.normal_token_id,
            anomalous_token_id=ids.anomalous_token_id,
            prompt_prefix=processor.prompt_prefix,
            prompt_question=processor.prompt_question,
            normal_answer=processor.normal_answer,
            anomalous_answer=processor.anomalous_answer,
            max_lines_per_window=processor.max_lines_per_window,
            max_tokens_per_line=processor.max_tokens_per_line,
            preprocessing=processor.preprocessing,
            **config_kwargs,
        )
        model = cls(config, encoder=encoder, decoder=decoder)
        processor.check_config(model.config)
        return model


LogLLMForAnomalyDetection.register_for_auto_class("AutoModel")

__all__ = ["LogLLMOutput", "LogLLMProjector", "LogLLMLinePooler", "LineFeatureCache", "LogLLMPreTrainedModel", "LogLLMForAnomalyDetection"]
