"""Recipes and arguments of train/train_logllm.py: every recipe parses, bad recipes fail clearly."""

from __future__ import annotations


import pytest

from logllm.training.stages import gradient_accumulation_for, plan_stages
from logllm.training.arguments import RECIPES_DIR, RecipeError, parse_arguments

PAPER_RECIPES = ("hdfs", "bgl", "thunderbird", "liberty")
# Paper recipes ask for bf16 on a GPU; on this CPU-only test machine transformers accepts bf16 only with use_cpu.
ON_CPU = ["--use_cpu", "true"]


@pytest.mark.parametrize("name", [*PAPER_RECIPES, "quickstart"])
def test_every_recipe_parses_into_the_dataclasses(name):
    script_args, training_args = parse_arguments(["--config", str(RECIPES_DIR / f"{name}.yaml"), *ON_CPU])
    assert script_args.stages == "1,2a,2b,3"
    if name in PAPER_RECIPES:  # the quickstart raises stage 1/3 rates for its randomly initialised decoder
        assert script_args.stage1_learning_rate == pytest.approx(5e-4)
        assert script_args.stage3_learning_rate == pytest.approx(5e-5)
    assert script_args.effective_batch_size == 16
    assert gradient_accumulation_for(16, training_args) * training_args.per_device_train_batch_size == 16
    assert training_args.optim == "adamw_torch"


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_use_the_paper_setup(name):
    script_args, training_args = parse_arguments(["--config", name, *ON_CPU])  # built-in recipe by name
    assert script_args.encoder_name_or_path == "google-bert/bert-base-uncased"
    assert script_args.decoder_name_or_path == "meta-llama/Meta-Llama-3-8B"
    assert script_args.load_in_4bit and script_args.use_lora
    assert (script_args.lora_r, script_args.lora_alpha, script_args.encoder_lora_r, script_args.encoder_lora_alpha) == (8, 16, 4, 32)
    assert script_args.stage1_max_samples == 1000 and script_args.stage3_epochs == 2
    assert script_args.oversample_beta == pytest.approx(0.3)
    assert name in script_args.dataset_config


def test_command_line_overrides_the_recipe(tmp_path):
    script_args, training_args = parse_arguments(
        ["--config", "quickstart", "--stages", "3", "--stage3_learning_rate", "1e-4", "--output_dir", str(tmp_path)]
    )
    assert script_args.stages == "3"
    assert script_args.stage3_learning_rate == pytest.approx(1e-4)
    assert training_args.output_dir == str(tmp_path)
    assert [p.name for p in plan_stages(script_args)] == ["3"]


def test_missing_recipe_field_names_file_and_field(tmp_path):
    recipe = tmp_path / "broken.yaml"
    text = (RECIPES_DIR / "quickstart.yaml").read_text(encoding="utf-8")
    recipe.write_text("\n".join(l for l in text.splitlines() if not l.startswith("stages:")), encoding="utf-8")
    with pytest.raises(RecipeError, match=r"broken\.yaml.*missing required field\(s\) \['stages'\]"):
        parse_arguments(["--config", str(recipe)])


def test_unknown_recipe_field_is_refused(tmp_path):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text((RECIPES_DIR / "quickstart.yaml").read_text(encoding="utf-8") + "\nstage3_learnin_rate: 1.0\n")
    with pytest.raises(ValueError, match="stage3_learnin_rate"):
        parse_arguments(["--config", str(recipe)])


def test_unknown_recipe_name_lists_the_built_in_ones():
    with pytest.raises(RecipeError, match="quickstart"):
        parse_arguments(["--config", "no-such-recipe"])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--stages", "1,4"], "unknown stage"),
        (["--stages", "1,2,2a,3"], "either '2'"),
        (["--model_preset", "gpt-17"], "unknown model_preset 'gpt-17'"),
        (["--oversample_beta", "1.5"], "oversample_beta"),
    ],
)
def test_bad_values_fail_before_training(extra, message):
    with pytest.raises(ValueError, match=message):
        parse_arguments(["--config", "quickstart", *extra])


def test_stages_run_in_paper_order_with_their_own_settings():
    script_args, _ = parse_arguments(["--config", "hdfs", "--stages", "3,1,2", *ON_CPU])
    plans = plan_stages(script_args)
    assert [(p.name, p.learning_rate, p.epochs) for p in plans] == [("1", 5e-4, 1.0), ("2", 5e-5, 2.0), ("3", 5e-5, 2.0)]
    assert plans[0].max_samples == 1000 and plans[1].max_samples is None and plans[2].max_samples is None


def test_effective_batch_must_divide(tmp_path):
    _, training_args = parse_arguments(["--config", "quickstart", "--per_device_train_batch_size", "3"])
    with pytest.raises(ValueError, match="not a multiple"):
        gradient_accumulation_for(16, training_args)


def test_accelerate_configs_are_valid_yaml():
    import yaml

    configs = sorted((RECIPES_DIR / "accelerate").glob("*.yaml"))
    assert {p.stem for p in configs} >= {"ddp", "fsdp", "deepspeed_zero3"}
    for path in configs:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert config["distributed_type"] in {"MULTI_GPU", "FSDP", "DEEPSPEED", "MULTI_CPU"}, path


def test_validation_runs_every_epoch_unless_switched_off(tmp_path):
    from transformers.trainer_utils import IntervalStrategy

    from logllm.training.stages import stage_training_args

    plan = plan_stages(parse_arguments(["--config", "quickstart", "--output_dir", str(tmp_path)])[0])[0]
    for extra, expected in (([], IntervalStrategy.EPOCH), (["--eval_strategy", "no"], IntervalStrategy.NO)):
        _, training_args = parse_arguments(["--dataset_name", "synthetic", "--output_dir", str(tmp_path), *extra])
        assert training_args.eval_strategy == expected
        assert stage_training_args(training_args, plan, tmp_path, 2, has_eval=True).eval_strategy == expected
    assert stage_training_args(training_args, plan, tmp_path, 2, has_eval=False).eval_strategy == IntervalStrategy.NO


def test_quickstart_stage_3_freezes_the_encoder_other_recipes_do_not(tmp_path):
    plans = {name: plan_stages(parse_arguments(["--config", name, "--output_dir", str(tmp_path), *ON_CPU])[0])[-1]
             for name in ("quickstart", "hdfs")}
    assert plans["quickstart"].freeze_encoder and plans["quickstart"].trains == "projector + decoder (encoder frozen)"
    assert not plans["hdfs"].freeze_encoder and plans["hdfs"].trains == "encoder + projector + decoder"
