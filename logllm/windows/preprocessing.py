"""Line preprocessing selectable by name, so the paper's Table IV ablation can be re-run.

* ``re`` — the paper's regex masking of variable fields to ``<*>`` (``mask_line``, shipped with
  the model in ``logllm/modeling/masking_logllm.py``; imported from there, never copied).
* ``raw`` — the message text unchanged.
* ``template`` — the Drain template of the line (drain3, online: the template as it stands when
  the line is read).
* ``template_id`` — the Drain cluster id as a token (``E12``), as in template-id baselines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["PREPROCESSORS", "make_preprocessor", "load_masker"]

logger = logging.getLogger(__name__)

PREPROCESSORS = ("re", "raw", "template", "template_id")



def load_masker():
    """The model's ``masking_logllm`` module (pure standard library: importing it loads no torch)."""
    from logllm.modeling import masking_logllm

    return masking_logllm


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
