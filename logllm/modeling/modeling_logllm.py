"""LogLLM: log anomaly detection with a line encoder, a projector and a causal language model.

Guan et al., "LogLLM: Log-based Anomaly Detection Using Large Language Models" (arXiv 2411.08561).
Each log line is encoded by a BERT-like encoder and pooled to one vector ([CLS] -> linear + tanh as
in the paper, or the mean of its token states); a projector maps it into the decoder's embedding
space, where it replaces one `<log>` placeholder of the prompt

    "Below is a sequence of system log messages:" <log> ... <log> ". Is this sequence normal or anomalous?"

The decoder is trained to answer "The sequence is normal." / "The sequence is anomalous."; the
anomaly score is P(anomalous) at the first answer token where the two answers differ.

The file reads top to bottom like LLaVA's: output dataclasses, small modules (line pooler,
projector), the pretrained base class, `LogLLMModel` (encoder + projector + decoder, no head) and
`LogLLMForAnomalyDetection` (LM head, loss, anomaly score, training stages). Batched scoring of
windows, line caching, long-window chunking and per-line evidence live in `detection_logllm.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.utils import ModelOutput, logging

from .configuration_logllm import LogLLMConfig

if TYPE_CHECKING:
    from .detection_logllm import LineVectorCache
    from .processing_logllm import LogLLMProcessor

logger = logging.get_logger(__name__)

IGNORE_INDEX = -100

# The model's trainable parts, and what each of the paper's training stages trains (official code:
# guanwei49/LogLLM train.py). "2" is the paper's stage 2 = the official 2b; "2a" is the official
# projector-only warm-up. The decoder part includes the LM head.
MODEL_PARTS = ("encoder", "line_pooler", "projector", "decoder")
TRAINING_STAGES: dict[str, tuple[str, ...]] = {
    "1": ("decoder",),
    "2a": ("projector",),
    "2b": ("encoder", "line_pooler", "projector"),
    "2": ("encoder", "line_pooler", "projector"),
    "3": ("encoder", "line_pooler", "projector", "decoder"),
}


@dataclass
class LogLLMOutput(ModelOutput):
    """
    Output of [`LogLLMForAnomalyDetection`].

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` are given):
            Cross-entropy on the answer tokens.
        logits (`torch.FloatTensor` of shape `(batch, kept_positions, vocab)`):
            LM-head logits at the positions `logits_to_keep` selects (all positions by default).
        anomaly_logits (`torch.FloatTensor` of shape `(batch,)`):
            Log-odds of "anomalous" vs "normal" at the deciding answer position (unbounded, so differences between
            windows stay visible where the probability saturates).
        anomaly_score (`torch.FloatTensor` of shape `(batch,)`):
            P(anomalous) = sigmoid(anomaly_logits): softmax over the two answers' deciding tokens.
        hidden_states, attentions (`tuple(torch.FloatTensor)`, *optional*):
            The decoder's, when asked for.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    anomaly_logits: torch.FloatTensor | None = None
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
        self.linear = nn.Linear(enc, dec, bias=config.projector_bias)
        if config.projector_type == "mlp":
            self.act = nn.GELU()
            self.linear_2 = nn.Linear(dec, dec, bias=config.projector_bias)

    def forward(self, line_vectors: torch.Tensor) -> torch.Tensor:
        hidden = self.linear(line_vectors)  # (N, H_dec)
        if self.projector_type == "mlp":
            hidden = self.linear_2(self.act(hidden))
        return hidden


class LogLLMPreTrainedModel(PreTrainedModel):
    config_class = LogLLMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    # Our own blocks; `post_init` adds each sub-model's own list (e.g. BertLayer, LlamaDecoderLayer), so
    # `device_map="auto"` never splits a layer across devices.
    _no_split_modules = ["LogLLMProjector", "LogLLMLinePooler"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _skip_keys_device_placement = ["past_key_values"]

    def _init_weights(self, module: nn.Module) -> None:
        # Sub-models (encoder, decoder) initialise themselves; this covers the projector, pooler and LM head.
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)


class LogLLMModel(LogLLMPreTrainedModel):
    r"""
    The LogLLM backbone without a language-modelling head: encoder -> line pooler -> projector -> decoder.

    Args:
        config ([`LogLLMConfig`]):
            Model configuration.
        encoder ([`PreTrainedModel`], *optional*):
            An already built (e.g. pretrained) encoder; built from `config.encoder_config` when omitted.
        decoder ([`PreTrainedModel`], *optional*):
            An already built decoder *base* model (e.g. `LlamaModel`); built from `config.decoder_config` when omitted.
    """

    def __init__(self, config: LogLLMConfig, encoder: PreTrainedModel | None = None, decoder: PreTrainedModel | None = None):
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder_config)
        encoder_has_pooler = getattr(self.encoder, "pooler", None) is not None
        self.line_pooler = (
            LogLLMLinePooler(config.encoder_config.hidden_size)
            if config.line_pooling == "pooler" and not encoder_has_pooler
            else None
        )
        self.projector = LogLLMProjector(config)
        self.decoder = decoder if decoder is not None else AutoModel.from_config(config.decoder_config)
        # one source of truth for the sub-configs (resizing embeddings updates the decoder's)
        self.config.encoder_config = self.encoder.config
        self.config.decoder_config = self.decoder.config
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.decoder.set_input_embeddings(value)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and not self.encoder_trainable:
            # A frozen encoder is a fixed feature extractor: no dropout noise, and its line vectors can be cached.
            for part in self.encoder_parts():
                part.eval()
        return self

    def encoder_parts(self) -> list[nn.Module]:
        return [self.encoder] + ([self.line_pooler] if self.line_pooler is not None else [])

    @property
    def encoder_trainable(self) -> bool:
        """Whether any encoder (or line pooler) parameter is trained in the current stage."""
        return any(p.requires_grad for part in self.encoder_parts() for p in part.parameters())

    def pool_lines(self, line_input_ids: torch.LongTensor, line_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode lines and pool each to one vector: `(N, T)` token ids -> `(N, H_enc)`."""
        if line_attention_mask is None:
            line_attention_mask = torch.ones_like(line_input_ids)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.encoder_trainable):
            outputs = self.encoder(input_ids=line_input_ids, attention_mask=line_attention_mask)
            if self.config.line_pooling == "mean":
                mask = line_attention_mask.unsqueeze(-1).to(outputs.last_hidden_state.dtype)  # (N, T, 1)
                return (outputs.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            if self.line_pooler is not None:
                return self.line_pooler(outputs.last_hidden_state)
            return outputs.pooler_output

    def get_line_features(self, line_vectors: torch.Tensor) -> torch.Tensor:
        """Project pooled line vectors into the decoder's embedding space: `(N, H_enc)` -> `(N, H_dec)`."""
        dtype = next((p.dtype for p in self.projector.parameters() if p.is_floating_point()), torch.float32)
        return self.projector(line_vectors.to(dtype))

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

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        line_input_ids: torch.LongTensor | None = None,
        line_attention_mask: torch.Tensor | None = None,
        line_index: torch.LongTensor | None = None,
        line_vectors: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, seq_len)`):
                Decoder prompt ids with one `config.log_token_id` per log line (from [`LogLLMProcessor`]).
            attention_mask (`torch.Tensor` of shape `(batch, seq_len)`, *optional*):
                1 for prompt tokens, 0 for padding.
            line_input_ids (`torch.LongTensor` of shape `(n_distinct, tokens)`, *optional*):
                Encoder ids of the batch's distinct lines.
            line_attention_mask (`torch.Tensor` of shape `(n_distinct, tokens)`, *optional*):
                Encoder attention mask.
            line_index (`torch.LongTensor` of shape `(n_placeholders,)`, *optional*):
                For each placeholder in row-major order, its row of the line vectors; identity when omitted.
            line_vectors (`torch.Tensor` of shape `(n_distinct, encoder_hidden)`, *optional*):
                Already pooled line vectors (e.g. from a cache while the encoder is frozen); replaces `line_input_ids`.
        """
        if input_ids is None:
            raise ValueError("input_ids are required (the <log> placeholders are found in them)")
        inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, L, H_dec)
        if line_vectors is None and line_input_ids is not None:
            line_vectors = self.pool_lines(line_input_ids, line_attention_mask)  # (N_distinct, H_enc)
        if line_vectors is not None:
            line_features = self.get_line_features(line_vectors)  # (N_distinct, H_dec)
            if line_index is not None:
                line_features = line_features[line_index.to(line_features.device)]  # (N_placeholders, H_dec)
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, line_features)
            inputs_embeds = inputs_embeds.masked_scatter(mask, line_features.to(inputs_embeds.device, inputs_embeds.dtype))
        elif (input_ids == self.config.log_token_id).any():
            raise ValueError("input_ids hold <log> placeholders but no line_input_ids or line_vectors were given")
        return self.decoder(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False,
            return_dict=True, **kwargs,
        )


class LogLLMForAnomalyDetection(LogLLMPreTrainedModel):
    r"""
    LogLLM with the decoder's language-modelling head: answers "normal" or "anomalous" for a window of log lines.

    Args:
        config ([`LogLLMConfig`]):
            Model configuration.
        encoder ([`PreTrainedModel`], *optional*):
            An already built (e.g. pretrained) encoder.
        decoder ([`PreTrainedModel`], *optional*):
            An already built decoder base model (without head), e.g. `LlamaModel`.
        lm_head ([`nn.Linear`], *optional*):
            The decoder's pretrained LM head (see `from_components`); a new one is built when omitted.
    """

    def __init__(
        self,
        config: LogLLMConfig,
        encoder: PreTrainedModel | None = None,
        decoder: PreTrainedModel | None = None,
        lm_head: nn.Module | None = None,
    ):
        super().__init__(config)
        self.model = LogLLMModel(config, encoder=encoder, decoder=decoder)
        dec = config.decoder_config
        self.lm_head = lm_head if lm_head is not None else nn.Linear(dec.hidden_size, dec.vocab_size, bias=False)
        # Tie the head to the decoder's input embeddings when the decoder was built that way (Llama-small, SmolLM2).
        embedding_name = next(
            name for name, p in self.model.decoder.named_parameters() if p is self.model.decoder.get_input_embeddings().weight
        )
        self._tied_weights_keys = {"lm_head.weight": f"model.decoder.{embedding_name}"}
        self.config.tie_word_embeddings = bool(getattr(dec, "tie_word_embeddings", False))
        # Unit-length pooled vectors of the training-normal distinct lines: how far a line is from everything the
        # model saw as normal ("unseen line" evidence; see `line_novelty`). Saved with the weights.
        self.register_buffer(
            "novelty_index",
            torch.zeros(config.novelty_index_size, config.encoder_config.hidden_size) if config.novelty_index_size else None,
        )
        self._line_cache: LineVectorCache | None = None
        self.post_init()

    # ------------------------------------------------------------------ plumbing (LLaVA-style accessors)

    @property
    def encoder(self) -> PreTrainedModel:
        return self.model.encoder

    @property
    def decoder(self) -> PreTrainedModel:
        return self.model.decoder

    @property
    def projector(self) -> LogLLMProjector:
        return self.model.projector

    @property
    def line_pooler(self) -> LogLLMLinePooler | None:
        return self.model.line_pooler

    @property
    def encoder_trainable(self) -> bool:
        return self.model.encoder_trainable

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True) -> nn.Embedding:
        """Resize the decoder's token embeddings and the LM head (e.g. after adding `<log>`); keep the config in sync."""
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.config.decoder_config.vocab_size = embeddings.weight.shape[0]
        return embeddings

    def get_line_vectors(self, line_input_ids: torch.LongTensor, line_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled encoder vectors of lines, `(N, H_enc)`: the space the novelty index and the line cache live in."""
        return self.model.pool_lines(line_input_ids, line_attention_mask)

    # ------------------------------------------------------------------ novelty of lines

    def set_novelty_index(self, line_vectors: torch.Tensor | None) -> int:
        """Keep these pooled line vectors (training-normal distinct lines) as the novelty index; returns its rows."""
        if line_vectors is None or len(line_vectors) == 0:
            self.novelty_index = None
            self.config.novelty_index_size = 0
            return 0
        vectors = F.normalize(line_vectors.detach().float(), dim=-1).to(self.lm_head.weight.device)
        self.novelty_index = vectors
        self.config.novelty_index_size = int(vectors.shape[0])
        return self.config.novelty_index_size

    def line_novelty(self, line_vectors: torch.Tensor, k: int = 1) -> torch.Tensor | None:
        """Cosine distance of each pooled line vector to its `k` nearest training-normal lines (mean), `(N,)` in
        [0, 2]; 0 for a line seen in training. None without an index."""
        if self.novelty_index is None:
            return None
        queries = F.normalize(line_vectors.float(), dim=-1).to(self.novelty_index.device)
        similarity = queries @ self.novelty_index.float().T  # (N, index rows)
        top = similarity.topk(min(k, similarity.shape[1]), dim=1).values  # (N, k)
        return (1.0 - top.mean(dim=1)).clamp(min=0.0)

    # ------------------------------------------------------------------ template index (see templates_logllm)

    template_index = None  # a `TemplateIndex` of the normal logs (template_index.json beside the weights), or None

    def set_template_index(self, index: Any | None) -> None:
        """Keep `index` (a `templates_logllm.TemplateIndex`) as the model's template index; the config records it."""
        self.template_index = index
        self.config.template_index = index.config_entry() if index is not None else None

    def save_pretrained(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> Any:
        """`PreTrainedModel.save_pretrained`, plus the template index (`template_index.json`) when there is one."""
        if self.template_index is not None:
            self.config.template_index = self.template_index.config_entry()
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if self.template_index is not None:
            self.template_index.save(save_directory)
        return result

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any) -> Any:
        """`PreTrainedModel.from_pretrained`, plus the template index and its ledger when the config names one
        (a missing, corrupt or foreign `template_index.json` raises `TemplateIndexError` naming the file)."""
        from .templates_logllm import load_template_index

        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        hub = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
        model.template_index = load_template_index(pretrained_model_name_or_path, model.config, **hub)
        return loaded

    # ------------------------------------------------------------------ line cache hook (see detection_logllm)

    def enable_line_cache(self, max_entries: int = 50_000) -> LineVectorCache:
        """Keep pooled line vectors across forward calls while the encoder cannot change (inference, or a training
        stage that does not train it). The cache itself is `detection_logllm.LineVectorCache`."""
        from .detection_logllm import LineVectorCache

        self._line_cache = LineVectorCache(max_entries)
        return self._line_cache

    @property
    def line_cache(self) -> LineVectorCache | None:
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
        return self

    def freeze_encoder(self) -> None:
        """Stop training the encoder and line pooler (e.g. a stage 3 that trains projector + decoder only)."""
        for part in self.model.encoder_parts():
            part.requires_grad_(False)
        self.clear_line_cache()
        self.train(self.training)  # a frozen encoder runs in eval mode while the rest trains

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        line_input_ids: torch.LongTensor | None = None,
        line_attention_mask: torch.Tensor | None = None,
        line_index: torch.LongTensor | None = None,
        line_vectors: torch.Tensor | None = None,
        score_positions: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        window_weights: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> LogLLMOutput:
        r"""
        Args:
            input_ids, attention_mask, line_input_ids, line_attention_mask, line_index, line_vectors:
                As in [`LogLLMModel.forward`] (the [`LogLLMProcessor`] output).
            score_positions (`torch.LongTensor` of shape `(batch,)`, *optional*):
                Index of the position whose next-token logits decide the answer; found from `labels` or the last
                attended position when omitted.
            labels (`torch.LongTensor` of shape `(batch, seq_len)`, *optional*):
                Answer token ids, -100 elsewhere; gives `loss` (the LM head runs only where an answer token is predicted).
            logits_to_keep (`int` or `torch.Tensor`, *optional*, defaults to 0):
                Which positions' logits to return, as in Llama: the last `n` (0 = all) or these indices. The loss and
                the anomaly score do not depend on it; training and scoring pass 1 to skip a full-vocabulary head
                over every position.
            window_weights (`torch.Tensor` of shape `(batch,)`, *optional*):
                How many windows each row stands for in the loss (a batch with identical windows written once): the
                loss equals the token-mean loss of the batch with every row repeated that many times.
        """
        encoder_fixed = not self.model.encoder.training and (not torch.is_grad_enabled() or not self.model.encoder_trainable)
        if line_vectors is None and line_input_ids is not None and self._line_cache is not None and encoder_fixed:
            line_vectors = self._line_cache.vectors(self, line_input_ids, line_attention_mask)
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, line_input_ids=line_input_ids,
            line_attention_mask=line_attention_mask, line_index=line_index, line_vectors=line_vectors,
            position_ids=position_ids, **kwargs,
        )
        hidden = outputs.last_hidden_state  # (B, L, H_dec)
        if score_positions is None:
            score_positions = self._find_score_positions(labels, attention_mask, input_ids)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        score_logits = self.lm_head(hidden[rows, score_positions.to(hidden.device)])  # (B, V)
        anomaly_logits = self._anomaly_logits(score_logits)

        loss = None
        if labels is not None:
            targets = labels[:, 1:].to(hidden.device)  # position i predicts token i + 1
            predicting = targets != IGNORE_INDEX  # (B, L-1)
            answer_logits = self.lm_head(hidden[:, :-1][predicting])  # (n_answer_tokens, V)
            if window_weights is None:
                loss = F.cross_entropy(answer_logits.float(), targets[predicting])
            else:  # each answer token counts as often as its row's window
                token_weights = window_weights.to(hidden.device, torch.float32)[:, None].expand_as(predicting)[predicting]
                token_losses = F.cross_entropy(answer_logits.float(), targets[predicting], reduction="none")
                loss = (token_losses * token_weights).sum() / token_weights.sum()
        logits = self.lm_head(slice_logits_to_keep(hidden, logits_to_keep))
        return LogLLMOutput(
            loss=loss,
            logits=logits,
            anomaly_logits=anomaly_logits,
            anomaly_score=None if anomaly_logits is None else torch.sigmoid(anomaly_logits),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

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

    def _anomaly_logits(self, score_logits: torch.Tensor) -> torch.Tensor | None:
        """log P(anomalous) - log P(normal) over the two deciding tokens, `(B,)`."""
        normal_id, anomalous_id = self.config.normal_token_id, self.config.anomalous_token_id
        if normal_id is None or anomalous_id is None:
            return None
        pair = score_logits[:, [normal_id, anomalous_id]].float()  # (B, 2)
        return pair[:, 1] - pair[:, 0]

    # ------------------------------------------------------------------ training stages

    @staticmethod
    def part_of(parameter_name: str) -> str:
        """Which of `MODEL_PARTS` a parameter belongs to (LoRA/PEFT prefixes are ignored)."""
        name = parameter_name
        for prefix in ("base_model.model.", "model."):
            name = name.removeprefix(prefix)
        head = name.split(".", 1)[0]
        return "decoder" if head == "lm_head" else head

    def set_training_stage(self, stage: int | str | Iterable[str]) -> dict[str, int]:
        """Freeze everything except what `stage` trains; returns trainable parameter counts per part.

        `stage` is one of the paper's stages (1: decoder · "2a": projector · "2b" or 2: encoder + projector ·
        3: everything; `TRAINING_STAGES`) or an iterable of `MODEL_PARTS`, e.g. `("projector", "decoder")`. With
        LoRA adapters on a part, only its adapter weights (and `modules_to_save` copies) train.
        """
        if isinstance(stage, (int, str)):
            key = str(stage)
            if key not in TRAINING_STAGES:
                raise ValueError(f"training stage must be one of {list(TRAINING_STAGES)} or a list of parts; got {stage!r}")
            parts = TRAINING_STAGES[key]
        else:
            parts = tuple(stage)
            unknown = [p for p in parts if p not in MODEL_PARTS]
            if unknown or not parts:
                raise ValueError(f"unknown model part(s) {unknown or '(none given)'}; parts are {MODEL_PARTS}")
        has_adapters = any("lora_" in name for name, _ in self.named_parameters())
        counts: dict[str, int] = {}
        for name, param in self.named_parameters():
            part = self.part_of(name)
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

    # ------------------------------------------------------------------ detection

    @torch.no_grad()
    def detect(
        self,
        windows: list[list[str]],
        processor: LogLLMProcessor,
        threshold: float = 0.5,
        batch_size: int = 8,
        line_scores: bool = False,
        preprocessed: bool = False,
        show_progress: bool = False,
    ) -> list[dict[str, Any]]:
        """Score windows of log lines; one dict per window: `score` (P(anomalous)), `anomalous`, `line_scores`.

        Windows longer than `max_lines_per_window` are scored as consecutive chunks (window score = the highest chunk
        score). With `line_scores=True` each line gets its evidence: how much the window's log-odds of "anomalous"
        drop when that line's text is left out (positive = the line pushed the window towards anomalous). See
        `detection_logllm.score_windows` for the batching, caching and progress options.
        """
        from .detection_logllm import score_windows

        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        scores = score_windows(
            self, processor, windows, batch_size=batch_size, line_evidence=line_scores, preprocessed=preprocessed,
            show_progress=show_progress,
        )
        return [
            {"score": s.score, "anomalous": bool(s.score >= threshold), "line_scores": s.line_evidence}
            for s in scores
        ]

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
        """Join a pretrained encoder and a pretrained causal LM (Hub ids, local folders or models) into a LogLLM.

        The causal LM is split into its base model and its LM head, both kept. `processor` defaults to
        `LogLLMProcessor.from_components(encoder, decoder)` (which needs ids or folders); the decoder embeddings are
        resized for its `<log>` token and the answer ids are taken from it. `decoder_kwargs` go to
        `AutoModelForCausalLM.from_pretrained` (e.g. `dtype`, `quantization_config` for a 4-bit decoder).
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
        model = cls(config, encoder=encoder, decoder=decoder.base_model, lm_head=decoder.get_output_embeddings())
        if getattr(encoder, "hf_device_map", None) or getattr(decoder, "hf_device_map", None):
            # parts placed by accelerate (device_map): the new projector and pooler sit where the line vectors are
            model.model.projector.to(encoder.device)
            if model.model.line_pooler is not None:
                model.model.line_pooler.to(encoder.device)
        processor.check_config(model.config)
        return model


LogLLMForAnomalyDetection.register_for_auto_class("AutoModel")

__all__ = [
    "LogLLMOutput", "LogLLMProjector", "LogLLMLinePooler", "LogLLMPreTrainedModel", "LogLLMModel",
    "LogLLMForAnomalyDetection", "TRAINING_STAGES", "MODEL_PARTS",
]
