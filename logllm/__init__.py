"""logllm: log-based anomaly detection with LLMs (LogLLM, Guan et al. 2024) the Hugging Face way.

The command line lives in :mod:`logllm.cli`; the model in :mod:`modeling_logllm`; data in
:mod:`dataset_builders`; training and evaluation in :mod:`train`; the demo in :mod:`space`.
"""

__version__ = "0.1.0"
