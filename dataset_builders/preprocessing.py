"""Line preprocessing selectable by name, so the paper's Table IV ablation can be re-run.

* ``re`` — the paper's regex masking of variable fields to ``<*>`` (``mask_line``, shipped with
  the model in ``modeling_logllm/masking_logllm.py``; imported from there, never copied).
* ``raw`` — the message text unchanged.
* ``template`` — the Drain template of the line (drain3, online: the template as it stands when
  the line is read).
* ``template_id`` — the Drain cluster id as a token (``E12``), as in template-id baselines.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["PREPROCESSORS", "make_preprocessor", "load_masker"]

logger = logging.getLogger(__name__)

PREPROCESSORS = ("re", "raw", "template", "template_id")

_MASKER_FILE = Path(__file__).resolve().parents[1] / "modeling_logllm" / "masking_logllm.py"
_MASKER_MODULE = "modeling_logllm.masking_logllm"


def load_masker():
    """The ``masking_logllm`` module, without importing the model package (torch) when avoidable.

    The masker is pure standard library; loading it by file keeps ``logllm data`` fast. When the
    model package is already imported, its own module object is reused.
    """
    module = sys.modules.get(_MASKER_MODULE)
    if module is not None:
        return module
    if not _MASKER_FILE.is_file():  # installed without the source tree: import the package
        return importlib.import_module(_MASKER_MODULE)
    spec = importlib.util.spec_from_file_location(_MASKER_MODULE, _MASKER_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MASKER_MODULE] = module
    spec.loader.exec_module(module)
    return module


class DrainPreprocessor:
    """Online Drain (drain3) template mining; ``ids=True`` returns ``E<cluster id>`` tokens."""

    def __init__(self, ids: bool = False, sim_th: float = 0.4, depth: int = 4) -> None:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig

        config = TemplateMinerConfig()
        config.drain_sim_th = sim_th
        config.drain_depth = depth
        config.profiling_enabled = False
        config.parametrize_numeric_tokens = True
        self.miner = TemplateMiner(config=config)
        self.ids = ids

    def __call__(self, text: str) -> str:
        result = self.miner.add_log_message(text)
        if self.ids:
            return f"E{result['cluster_id']}"
        return result["template_mined"]


def make_preprocessor(name: str) -> Callable[[str], str]:
    """A ``str -> str`` function for preprocessing ``name`` (one of ``PREPROCESSORS``)."""
    if name == "re":
        return load_masker().mask_line
    if name == "raw":
        return str
    if name == "template":
        return DrainPreprocessor(ids=False)
    if name == "template_id":
        return DrainPreprocessor(ids=True)
    raise ValueError(f"unknown preprocessing {name!r}; choose one of {', '.join(PREPROCESSORS)}")
