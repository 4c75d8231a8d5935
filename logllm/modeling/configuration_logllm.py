"""LogLLM configuration: a sentence encoder and a causal decoder joined by a projector.

LogLLM (Guan et al., 2024, arXiv 2411.08561) reads one log window as a prompt for a causal
language model in which every log line is a single embedding: the encoder's pooled [CLS] state of
that line, projected to the decoder's embedding size. The decoder then answers "The sequence is
normal." or "The sequence is anomalous."; the probability of the second answer is the anomaly score.
"""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.utils import logging

logger = logging.get_logger(__name__)

PROJECTOR_TYPES = ("linear", "mlp")
LINE_POOLING_MODES = ("pooler", "mean")
PREPROCESSING_CHOICES = ("re", "raw")
LEGACY_PREPROCESSING = {"none": "raw"}  # the name used before "raw" was the one name for unmasked lines

DEFAULT_PROMPT_PREFIX = "Below is a sequence of system log messages:"
DEFAULT_PROMPT_QUESTION = ". Is this sequence normal or anomalous?"
DEFAULT_NORMAL_ANSWER = "The sequence is normal."
DEFAULT_ANOMALOUS_ANSWER = "The sequence is anomalous."
DEFAULT_LOG_TOKEN = "<log>"


def _build_sub_config(value, default_model_type: str, name: str) -> PretrainedConfig:
    """Accept a config, a dict (as read back from config.json) or None, and return a config object."""
    if value is None:
        return CONFIG_MAPPING[default_model_type]()
    if isinstance(value, PretrainedConfig):
        return value
    if isinstance(value, dict):
        value = dict(value)
        model_type = value.pop("model_type", default_model_type)
        if model_type not in CONFIG_MAPPING:
            raise ValueError(f"`{name}` has model_type={model_type!r}, which transformers does not know")
        return CONFIG_MAPPING[model_type](**value)
    raise TypeError(f"`{name}` must be a PretrainedConfig, a dict or None, got {type(value).__name__}")


class LogLLMConfig(PretrainedConfig):
    r"""
    Configuration of a [`LogLLMForAnomalyDetection`] model.

    Args:
        encoder_config (`PretrainedConfig` or `dict`, *optional*, defaults to a `BertConfig`):
            Config of the line encoder (any AutoModel encoder: BERT, RoBERTa, MiniLM, ...).
        decoder_config (`PretrainedConfig` or `dict`, *optional*, defaults to a `LlamaConfig`):
            Config of the causal language model (Llama, Qwen2, Mistral, GPT-2, ...).
        log_token_id (`int`, *optional*):
            Decoder id of the `<log>` placeholder; one placeholder stands for one log line.
        log_token (`str`, *optional*, defaults to `"<log>"`):
            Text of the placeholder token added to the decoder tokenizer.
        line_pooling (`str`, *optional*, defaults to `"pooler"`):
            `"pooler"`: [CLS] state -> linear + tanh (BERT's pooler, as in the paper; the encoder's own pooler
            is used when it has one). `"mean"`: masked mean of the token states (sentence-transformers style).
        projector_type (`str`, *optional*, defaults to `"linear"`):
            `"linear"` (one layer, as in the paper) or `"mlp"` (linear-GELU-linear).
        projector_bias (`bool`, *optional*, defaults to `True`):
            Whether the projector's linear layers have a bias.
        prompt_prefix (`str`, *optional*):
            Text before the line embeddings.
        prompt_question (`str`, *optional*):
            Text after the line embeddings.
        normal_answer (`str`, *optional*):
            Target answer for a normal window.
        anomalous_answer (`str`, *optional*):
            Target answer for an anomalous window.
        normal_token_id (`int`, *optional*):
            Decoder id of the first token where the two answers differ, for the normal answer.
        anomalous_token_id (`int`, *optional*):
            Same, for the anomalous answer; `anomaly_score` is the softmax over these two ids.
        max_lines_per_window (`int`, *optional*, defaults to 128):
            Most lines one window may hold (the official code's cap).
        max_tokens_per_line (`int`, *optional*, defaults to 100):
            Encoder tokens kept per line (the official code's cap).
        preprocessing (`str`, *optional*, defaults to `"re"`):
            How the processor turns raw lines into model text: `"re"` (regex masking) or `"raw"` (as given).
        novelty_index_size (`int`, *optional*, defaults to 0):
            Rows of the `novelty_index` buffer: pooled encoder vectors of the distinct lines of the training-normal
            windows (0: no index). Set by `LogLLMForAnomalyDetection.set_novelty_index`.
        operating_point (`dict`, *optional*):
            How the saved model decides, chosen on validation after training (see `logllm.scoring.operating_point`):
            `threshold` (P(anomalous)), `threshold_source`, `novelty_threshold` (a line farther than this from every
            training-normal line is "unseen"), `unfamiliar_line_share`, the `window` settings and `preprocessing` the
            model was trained with, and the `dataset` it was chosen on.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation for initialising the projector and the fallback line pooler.
        base_components (`dict`, *optional*):
            Where the pretrained encoder and decoder came from (preset, Hub ids or folders, seed), recorded when the
            model is built so that LoRA adapters saved alone can be put back on the same base.
    """

    model_type = "logllm"
    sub_configs = {"encoder_config": AutoConfig, "decoder_config": AutoConfig}

    def __init__(
        self,
        encoder_config=None,
        decoder_config=None,
        log_token_id: int | None = None,
        log_token: str = DEFAULT_LOG_TOKEN,
        line_pooling: str = "pooler",
        projector_type: str = "linear",
        projector_bias: bool = True,
        prompt_prefix: str = DEFAULT_PROMPT_PREFIX,
        prompt_question: str = DEFAULT_PROMPT_QUESTION,
        normal_answer: str = DEFAULT_NORMAL_ANSWER,
        anomalous_answer: str = DEFAULT_ANOMALOUS_ANSWER,
        normal_token_id: int | None = None,
        anomalous_token_id: int | None = None,
        max_lines_per_window: int = 128,
        max_tokens_per_line: int = 100,
        preprocessing: str = "re",
        initializer_range: float = 0.02,
        novelty_index_size: int = 0,
        operating_point: dict | None = None,
        base_components: dict | None = None,
        **kwargs,
    ):
        preprocessing = LEGACY_PREPROCESSING.get(preprocessing, preprocessing)
        self.encoder_config = _build_sub_config(encoder_config, "bert", "encoder_config")
        self.decoder_config = _build_sub_config(decoder_config, "llama", "decoder_config")
        if line_pooling not in LINE_POOLING_MODES:
            raise ValueError(f"line_pooling must be one of {LINE_POOLING_MODES}, got {line_pooling!r}")
        if projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type must be one of {PROJECTOR_TYPES}, got {projector_type!r}")
        if preprocessing not in PREPROCESSING_CHOICES:
            raise ValueError(f"preprocessing must be one of {PREPROCESSING_CHOICES}, got {preprocessing!r}")
        if normal_answer == anomalous_answer:
            raise ValueError("normal_answer and anomalous_answer must differ")
        for name, value in (("max_lines_per_window", max_lines_per_window), ("max_tokens_per_line", max_tokens_per_line)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.log_token_id = log_token_id
        self.log_token = log_token
        self.line_pooling = line_pooling
        self.projector_type = projector_type
        self.projector_bias = projector_bias
        self.prompt_prefix = prompt_prefix
        self.prompt_question = prompt_question
        self.normal_answer = normal_answer
        self.anomalous_answer = anomalous_answer
        self.normal_token_id = normal_token_id
        self.anomalous_token_id = anomalous_token_id
        self.max_lines_per_window = max_lines_per_window
        self.max_tokens_per_line = max_tokens_per_line
        self.preprocessing = preprocessing
        self.initializer_range = initializer_range
        if not isinstance(novelty_index_size, int) or novelty_index_size < 0:
            raise ValueError(f"novelty_index_size must be a non-negative integer, got {novelty_index_size!r}")
        if operating_point is not None and not isinstance(operating_point, dict):
            raise ValueError(f"operating_point must be a dict or None, got {type(operating_point).__name__}")
        self.novelty_index_size = novelty_index_size
        self.operating_point = operating_point
        self.base_components = base_components
        # PretrainedConfig.__init__ sets the attention implementation on every sub-config (to None unless
        # asked for); keep what already-built sub-models (from_components) use.
        built_with = {key: getattr(getattr(self, key), "_attn_implementation_internal", None) for key in self.sub_configs}
        super().__init__(**kwargs)
        if "attn_implementation" not in kwargs:
            for key, implementation in built_with.items():
                if implementation is not None:
                    getattr(self, key)._attn_implementation_internal = implementation


# `save_pretrained` then writes `auto_map` and copies this file next to the weights (trust_remote_code).
LogLLMConfig.register_for_auto_class()

__all__ = ["LogLLMConfig"]
