# /// script
# dependencies = ["logllm"]
# ///
"""Train LogLLM in the paper's stages (recipes in train/recipes/); `logllm train` runs this script.

    logllm train --config quickstart --output_dir runs/quickstart
    python train/train_logllm.py --config train/recipes/bgl.yaml --dataset_name data/loghub
"""

import sys

from logllm.training.arguments import main

if __name__ == "__main__":
    sys.exit(main())
