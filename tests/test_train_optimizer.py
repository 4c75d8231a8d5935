"""The pretrained encoder can train at its own learning rate while the decoder uses the stage's."""

from transformers import TrainingArguments

from logllm.modeling.presets import build_tiny
from logllm.training.trainer import LogLLMTrainer


def _optimizer(tmp_path, encoder_learning_rate):
    model, _ = build_tiny(seed=0)
    model.set_training_stage(3)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, use_cpu=True, report_to="none")
    trainer = LogLLMTrainer(model=model, args=args, encoder_learning_rate=encoder_learning_rate)
    return model, trainer.create_optimizer()


def test_encoder_parameters_get_the_encoder_learning_rate(tmp_path):
    model, optimizer = _optimizer(tmp_path, 5e-5)
    encoder = {id(p) for p in model.encoder.parameters()}
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(lr_of) == len(trainable)  # every trainable parameter is in exactly one group
    assert {lr_of[id(p)] for p in trainable if id(p) in encoder} == {5e-5}
    assert {lr_of[id(p)] for p in trainable if id(p) not in encoder} == {1e-3}


def test_without_encoder_learning_rate_everything_uses_the_stage_rate(tmp_path):
    _, optimizer = _optimizer(tmp_path, None)
    assert {group["lr"] for group in optimizer.param_groups} == {1e-3}
