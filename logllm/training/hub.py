"""Push a saved LogLLM model folder to the Hugging Face Hub, as it is: weights (with the novelty index), config (with
the operating point), remote code, processor, the model card written when it was saved and its evaluation under eval/.

    python -m logllm.training.hub --model_dir runs/bgl/final_model --repo_id me/logllm-bgl

`logllm train ... --push_to_hub --hub_model_id me/logllm-bgl` pushes the same folder after training; both go through
`logllm.training.artifact.push_model_folder` (`upload_folder`).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class PushArguments:
    model_dir: str = field(metadata={"help": "a model folder saved by training (README.md card, config, weights), "
                                             "e.g. runs/x/final_model"})
    repo_id: str = field(metadata={"help": "Hub model id, e.g. me/logllm-bgl"})
    private: bool = field(default=False, metadata={"help": "create the repository as private"})
    commit_message: str = field(default="Upload LogLLM model", metadata={"help": "commit message"})


def main(argv: list[str] | None = None) -> int:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from transformers import HfArgumentParser

    from logllm.training.artifact import push_model_folder

    (args,) = HfArgumentParser(PushArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        info = push_model_folder(args.model_dir, args.repo_id, private=args.private or None,
                                 commit_message=args.commit_message)
    except (FileNotFoundError, ValueError) as err:
        print(f"logllm.training.hub: error: {err}", file=sys.stderr)
        return 2
    except OfflineModeIsEnabled:
        print("logllm.training.hub: error: HF_HUB_OFFLINE is set; unset it to push", file=sys.stderr)
        return 2
    except HfHubHTTPError as err:
        print(f"logllm.training.hub: error: the Hub refused the push ({err}); check the repo id and "
              "`hf auth login`", file=sys.stderr)
        return 2
    print(getattr(info, "commit_url", info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
