"""Recipes and arguments of `logllm train`: every recipe parses, bases chain, the stage list is typed, old flags
either still work or fail naming the new form, and ModelConfig becomes LoRA / quantization configs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from logllm.training.arguments import StageConfig
from logllm.training.recipes import RECIPE_NAMES, RECIPES_DIR, RecipeError, load_recipe, parse_arguments
from logllm.training.stages import gradient_accumulation_for

PAPER_RECIPES = ("hdfs", "bgl", "thunderbird", "liberty")
# Paper recipes ask for bf16 on a GPU; on this CPU-only test machine transformers accepts bf16 only with use_cpu.
ON_CPU = ["--use_cpu", "true"]
ALL_RECIPES = sorted(str(p.relative_to(RECIPES_DIR).with_suffix("")) for p in RECIPES_DIR.rglob("*.yaml")
                     if "accelerate" not in p.parts and p.stem != "base")


def stage_table(script_args) -> list[tuple]:
    return [(s.name, s.trains_text, s.learning_rate, s.epochs, s.max_samples) for s in script_args.stages]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ALL_RECIPES)
def test_every_recipe_parses_into_the_dataclasses(name):
    script_args, training_args, model_args = parse_arguments(["--config", name, *ON_CPU])
    # every recipe runs the paper's four stages, except the pretrained small preset's (stage 3 only; see its comment)
    expected = ["3"] if model_args.model_preset == "small" else ["1", "2a", "2b", "3"]
    assert [s.name for s in script_args.stages] == expected
    assert all(isinstance(s, StageConfig) for s in script_args.stages)
    per_step = gradient_accumulation_for(script_args.effective_batch_size, training_args)
    assert per_step * training_args.per_device_train_batch_size == script_args.effective_batch_size
    assert model_args.model_preset in {"tiny", "default", "small", "paper"}


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_use_the_paper_setup(name):
    script_args, training_args, model_args = parse_arguments(["--config", name, *ON_CPU])  # short name
    assert model_args.encoder_name_or_path == "google-bert/bert-base-uncased"
    assert model_args.decoder_name_or_path == "meta-llama/Meta-Llama-3-8B"
    assert model_args.load_in_4bit and model_args.use_peft and not model_args.use_bnb_nested_quant
    assert (model_args.lora_r, model_args.lora_alpha, model_args.encoder_lora_r, model_args.encoder_lora_alpha) == (8, 16, 4, 32)
    assert stage_table(script_args) == [
        ("1", "decoder", 5e-4, 1.0, 1000),
        ("2a", "projector", 5e-4, 1.0, None),
        ("2b", "encoder + line_pooler + projector", 5e-5, 1.0, None),
        ("3", "encoder + line_pooler + projector + decoder", 5e-5, 2.0, None),
    ]
    assert script_args.oversample_beta == pytest.approx(0.3) and script_args.effective_batch_size == 16
    assert name in script_args.dataset_config and training_args.output_dir == f"runs/{name}"
    assert training_args.load_best_model_at_end and training_args.eval_strategy == training_args.save_strategy


def test_paper_recipes_share_one_base_and_differ_in_data_and_output():
    recipes = {name: load_recipe(RECIPES_DIR / RECIPE_NAMES[name]) for name in PAPER_RECIPES}
    base = load_recipe(RECIPES_DIR / "paper" / "base.yaml")
    for recipe in recipes.values():
        assert {k for k in recipe if recipe[k] != base.get(k)} == {"dataset_config", "output_dir"}


def test_quickstart_recipe_trains_the_pretrained_preset_through_lora_on_every_projection():
    script_args, training_args, model_args = parse_arguments(["--config", "quickstart"])
    assert stage_table(script_args) == [("3", "projector + decoder", 1e-3, 2.0, None)]  # MiniLM frozen, lines cached
    assert (model_args.model_preset, model_args.max_lines_per_window) == ("small", 40)
    assert model_args.use_peft and (model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout) == (8, 16, 0.0)
    assert sorted(model_args.lora_target_modules) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    assert model_args.encoder_lora_r == 0 and not (model_args.load_in_4bit or model_args.load_in_8bit)
    assert script_args.dedup_batch  # exact because lora_dropout is 0
    assert (script_args.dataset_name, script_args.dataset_config, script_args.synthetic_sessions) == ("synthetic", "hdfs", 1500)
    assert training_args.per_device_train_batch_size == 16 and training_args.gradient_accumulation_steps == 1


def test_quickstart_lora_config_targets_the_decoder_projections_only():
    from logllm.training.setup import lora_config_for

    _, _, model_args = parse_arguments(["--config", "quickstart"])
    config = lora_config_for(model_args)
    assert set(config.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert config.r == 8 and config.lora_dropout == 0.0 and "projector" in config.modules_to_save


def test_random_decoder_quickstart_recipe_keeps_its_stage_settings():
    script_args, training_args, model_args = parse_arguments(["--config", "quickstart-random"])
    assert stage_table(script_args) == [
        ("1", "decoder", 5e-4, 1.0, 480),
        ("2a", "projector", 1e-3, 1.0, 480),
        ("2b", "encoder + line_pooler + projector", 5e-5, 1.0, 160),
        ("3", "projector + decoder", 5e-4, 8.0, None),  # stage 3 with the encoder frozen
    ]
    assert (model_args.model_preset, model_args.max_lines_per_window, model_args.use_peft) == ("default", 40, False)
    assert (script_args.dataset_name, script_args.dataset_config, script_args.synthetic_sessions) == ("synthetic", "hdfs", 1500)
    assert training_args.lr_scheduler_type == "cosine" and training_args.per_device_train_batch_size == 16


def test_recipe_inheritance_chains_bases_and_the_recipe_wins(tmp_path):
    write(tmp_path / "base.yaml", "seed: 1\nlogging_steps: 3\noutput_dir: runs/a\n")
    write(tmp_path / "mid" / "model.yaml", "base: ../base.yaml\nseed: 2\nmodel_preset: tiny\n")
    leaf = write(tmp_path / "mid" / "leaf.yaml", "base: model.yaml\nseed: 3\n")
    assert load_recipe(leaf) == {"seed": 3, "logging_steps": 3, "output_dir": "runs/a", "model_preset": "tiny"}


def test_a_recipe_based_on_the_quickstart_replaces_its_stage_list(tmp_path):
    recipe = write(tmp_path / "short.yaml", f"base: {RECIPES_DIR / 'default' / 'synthetic.yaml'}\n"
                                            "stages:\n  - {name: '3', learning_rate: 1.0e-4, epochs: 2}\n")
    script_args, training_args, model_args = parse_arguments(["--config", str(recipe)])
    assert stage_table(script_args) == [("3", "encoder + line_pooler + projector + decoder", 1e-4, 2.0, None)]
    assert model_args.model_preset == "default" and training_args.output_dir == "runs/quickstart"  # from the base


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": "base: nowhere.yaml\n"}, r"a\.yaml: base 'nowhere\.yaml' not found"),
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, r"recipe bases loop"),
        ({"a.yaml": "- just\n- a list\n"}, r"a\.yaml: a recipe is a YAML mapping"),
        ({"a.yaml": "seed: [1\n"}, r"a\.yaml: not valid YAML"),
    ],
)
def test_broken_recipe_files_name_the_file(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(RecipeError, match=message):
        parse_arguments(["--config", str(tmp_path / "a.yaml")])


def test_missing_recipe_field_names_file_and_field(tmp_path):
    recipe = write(tmp_path / "broken.yaml", "model_preset: tiny\noutput_dir: x\nstages:\n  - {name: '1', learning_rate: 1, epochs: 1}\n")
    with pytest.raises(RecipeError, match=r"broken\.yaml.*missing required field\(s\) \['dataset_name'\]"):
        parse_arguments(["--config", str(recipe)])


def test_unknown_recipe_key_is_refused(tmp_path):
    recipe = write(tmp_path / "typo.yaml", f"base: {RECIPES_DIR / 'default' / 'synthetic.yaml'}\nlearnin_rate: 1.0\n")
    with pytest.raises(RecipeError, match=r"typo\.yaml: unknown recipe key\(s\) \['learnin_rate'\]"):
        parse_arguments(["--config", str(recipe)])


def test_unknown_recipe_name_lists_the_built_in_ones():
    with pytest.raises(RecipeError, match=r"quickstart.*paper/bgl"):
        parse_arguments(["--config", "no-such-recipe"])


def test_no_recipe_means_no_stages():
    with pytest.raises(RecipeError, match="no training stages: pass --config"):
        parse_arguments(["--output_dir", "x"])


@pytest.mark.parametrize("config", ["quickstart-random", "default/synthetic", "default/synthetic.yaml",
                                    str(RECIPES_DIR / "default" / "synthetic.yaml")])
def test_a_recipe_is_named_by_short_name_relative_path_or_file(config):
    assert parse_arguments(["--config", config])[2].model_preset == "default"


@pytest.mark.parametrize("old, new, n_stages", [("train/recipes/quickstart.yaml", "small/synthetic.yaml", 1),
                                                ("train/recipes/bgl.yaml", "paper/bgl.yaml", 4)])
def test_recipe_paths_of_the_flat_layout_still_work_and_say_where_they_moved(old, new, n_stages, caplog):
    with caplog.at_level(logging.WARNING, logger="logllm.training.recipes"):
        script_args, _, _ = parse_arguments(["--config", old, *ON_CPU])
    assert f"moved to {RECIPES_DIR / new}" in caplog.text and len(script_args.stages) == n_stages


# ---------------------------------------------------------------- the stages: list

STAGE_ERRORS = [
    ("stages: 1,2a,2b,3", r"`stages: 1,2a,2b,3` is the old form; stages is now a list"),
    ("stages: []", r"stages must be a non-empty list"),
    ("stages:\n  - 3", r"stages\[0\]: expected a mapping"),
    ("stages:\n  - {name: '1', lr: 1.0e-3, epochs: 1}", r"stages\[0\]: unknown key\(s\) \['lr'\]; a stage has name, trains"),
    ("stages:\n  - {name: '1', learning_rate: 1.0e-3, epochs: 1}\n  - {name: '3', epochs: 1}",
     r"stages\[1\]: missing \['learning_rate'\]"),
    ("stages:\n  - {name: '4', learning_rate: 1.0e-3, epochs: 1}", r"stages\[0\] \(name '4'\): key 'name': expected one of"),
    ("stages:\n  - {name: '3', trains: decoder + head, learning_rate: 1.0e-3, epochs: 1}",
     r"stages\[0\] \(name '3'\): key 'trains': expected parts of \['encoder', 'line_pooler', 'projector', 'decoder'\]"),
    ("stages:\n  - {name: '3', learning_rate: fast, epochs: 1}", r"stages\[0\] \(name '3'\): key 'learning_rate': expected a number > 0, got 'fast'"),
    ("stages:\n  - {name: '3', learning_rate: 1.0e-3, epochs: 1, max_samples: 2.5}",
     r"key 'max_samples': expected a whole number > 0, got 2\.5"),
    ("stages:\n  - {name: '3', learning_rate: 1.0e-3, epochs: 0}", r"key 'epochs': expected a number > 0, got 0"),
    ("stages:\n  - {name: '3', learning_rate: 1.0e-3, epochs: 1}\n  - {name: 3, learning_rate: 1.0e-3, epochs: 1}",
     r"stage name\(s\) \['3'\] appear more than once"),
]


@pytest.mark.parametrize("stages, message", STAGE_ERRORS)
def test_stage_list_errors_name_recipe_stage_key_and_what_was_expected(tmp_path, stages, message):
    recipe = write(tmp_path / "stages.yaml", f"base: {RECIPES_DIR / 'default' / 'synthetic.yaml'}\n{stages}\n")
    with pytest.raises(ValueError, match=rf"stages\.yaml: .*{message}"):
        parse_arguments(["--config", str(recipe)])


def test_stage_numbers_in_yaml_1_1_exponent_form_are_read(tmp_path):
    recipe = write(tmp_path / "r.yaml", f"base: {RECIPES_DIR / 'default' / 'synthetic.yaml'}\n"
                                        "stages:\n  - {name: '1', learning_rate: 5e-4, epochs: 1, max_samples: 8.0}\n")
    assert stage_table(parse_arguments(["--config", str(recipe)])[0]) == [("1", "decoder", 5e-4, 1.0, 8)]


def test_stages_flag_runs_some_of_the_recipes_stages_in_recipe_order(tmp_path):
    script_args, training_args, _ = parse_arguments(["--config", "quickstart-random", "--stages", "3,2a", "--output_dir", str(tmp_path)])
    assert [s.name for s in script_args.stages] == ["2a", "3"] and training_args.output_dir == str(tmp_path)
    with pytest.raises(ValueError, match=r"--stages '2': \['2'\] not among the stages of .*synthetic\.yaml \['1', '2a', '2b', '3'\]"):
        parse_arguments(["--config", "quickstart-random", "--stages", "2"])


# ---------------------------------------------------------------- earlier flags and recipe keys

@pytest.mark.parametrize(
    "flag, message",
    [
        (["--stage3_learning_rate", "1e-4"], "`learning_rate: ...` on the entry with name '3'"),
        (["--stage1_max_samples=8"], "`max_samples: ...` on the entry with name '1'"),
        (["--stage2a_epochs", "2"], "`epochs: ...` on the entry with name '2a'"),
        (["--stage3_freeze_encoder", "true"], "`trains: projector + decoder` on the entry with name '3'"),
        (["--encoder_learning_rate", "5e-5"], "`encoder_learning_rate:` on the entries of the recipe's stages: list"),
    ],
)
def test_per_stage_flags_fail_with_one_line_naming_the_stage_list(flag, message):
    with pytest.raises(RecipeError, match=r"^--\w+ is no longer a flag: .*stages: list") as caught:
        parse_arguments(["--config", "quickstart", *flag])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_per_stage_keys_in_an_old_recipe_file_name_the_file(tmp_path):
    recipe = write(tmp_path / "old.yaml", f"base: {RECIPES_DIR / 'default' / 'synthetic.yaml'}\nstage1_learning_rate: 5.0e-4\n")
    with pytest.raises(RecipeError, match=r"old\.yaml: key 'stage1_learning_rate': now set in the recipe's stages: list"):
        parse_arguments(["--config", str(recipe)])


@pytest.mark.parametrize("old, new, value", [(["--use_lora"], "use_peft", True), (["--use-lora", "true"], "use_peft", True),
                                            (["--keep_best", "false"], "load_best_model_at_end", False)])
def test_renamed_flags_still_work_with_a_warning(old, new, value, caplog):
    with caplog.at_level(logging.WARNING, logger="logllm.training.recipes"):
        script_args, training_args, model_args = parse_arguments(["--config", "quickstart", *old])
    assert getattr(model_args if new == "use_peft" else training_args, new) is value
    assert f"is now --{new}" in caplog.text


def test_renamed_keys_in_a_recipe_still_work(tmp_path):
    recipe = write(tmp_path / "old.yaml", f"base: {RECIPES_DIR / 'default' / 'synthetic.yaml'}\nuse_lora: true\nkeep_best: false\n")
    _, training_args, model_args = parse_arguments(["--config", str(recipe)])
    assert model_args.use_peft and not training_args.load_best_model_at_end


def test_logllm_train_reports_a_bad_flag_in_one_line(capsys):
    from logllm.cli import main

    assert main(["train", "--config", "quickstart", "--stage3_epochs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("logllm train: error: --stage3_epochs is no longer a flag") and "\n" not in err


# ---------------------------------------------------------------- trainer settings

def test_switching_validation_off_also_switches_best_model_loading_off(tmp_path):
    from transformers.trainer_utils import IntervalStrategy

    from logllm.training.stages import stage_training_args

    script_args, training_args, _ = parse_arguments(["--config", "quickstart", "--output_dir", str(tmp_path)])
    stage = script_args.stages[0]
    assert training_args.eval_strategy == IntervalStrategy.EPOCH and training_args.load_best_model_at_end
    assert stage_training_args(training_args, stage, tmp_path, 1, has_eval=True).load_best_model_at_end
    no_data = stage_training_args(training_args, stage, tmp_path, 1, has_eval=False)
    assert no_data.eval_strategy == IntervalStrategy.NO and not no_data.load_best_model_at_end
    for flag in (["--eval_strategy", "no"], ["--eval-strategy=no"]):
        _, off, _ = parse_arguments(["--config", "quickstart", "--output_dir", str(tmp_path), *flag])
        assert off.eval_strategy == IntervalStrategy.NO and not off.load_best_model_at_end


def test_effective_batch_must_divide():
    _, training_args, _ = parse_arguments(["--config", "quickstart", "--per_device_train_batch_size", "3"])
    with pytest.raises(ValueError, match="not a multiple"):
        gradient_accumulation_for(16, training_args)


@pytest.mark.parametrize("extra, message", [(["--model_preset", "gpt-17"], "unknown model_preset 'gpt-17'"),
                                            (["--oversample_beta", "1.5"], "oversample_beta")])
def test_bad_values_fail_before_training(extra, message):
    with pytest.raises(ValueError, match=message):
        parse_arguments(["--config", "quickstart", *extra])


def test_accelerate_configs_are_valid_yaml():
    import yaml

    configs = sorted((RECIPES_DIR / "accelerate").glob("*.yaml"))
    assert {p.stem for p in configs} >= {"ddp", "fsdp", "deepspeed_zero3"}
    for path in configs:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert config["distributed_type"] in {"MULTI_GPU", "FSDP", "DEEPSPEED", "MULTI_CPU"}, path


# ---------------------------------------------------------------- ModelConfig -> peft / bitsandbytes configs

def test_paper_model_config_gives_per_part_lora_and_the_official_qlora_setting():
    from logllm.modeling.adapters import DECODER_TARGETS, ENCODER_TARGETS, paper_quantization_config
    from logllm.training.setup import lora_config_for, quantization_config_for

    _, _, model_args = parse_arguments(["--config", "bgl", *ON_CPU])
    lora = lora_config_for(model_args)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (8, 16, 0.05)
    assert lora.rank_pattern == {ENCODER_TARGETS: 4} and lora.alpha_pattern == {ENCODER_TARGETS: 32}
    assert DECODER_TARGETS in lora.target_modules and ENCODER_TARGETS in lora.target_modules
    assert lora.modules_to_save == ["projector"] and lora.task_type is None
    quant = quantization_config_for(model_args)  # NF4, no nested quantization, bf16 compute, BERT quantized too
    assert quant.to_dict() == paper_quantization_config().to_dict()


def test_model_config_switches_and_overrides_reach_the_configs():
    from logllm.training.setup import lora_config_for, quantization_config_for

    _, _, off = parse_arguments(["--config", "quickstart-random"])
    assert lora_config_for(off) is None and quantization_config_for(off) is None
    _, _, mine = parse_arguments(["--config", "quickstart-random", "--use_peft", "--lora_r", "16", "--lora_target_modules",
                                  "q_proj", "k_proj", "--encoder_lora_r", "0", "--load_in_8bit", "true"])
    lora = lora_config_for(mine)
    assert lora.r == 16 and set(lora.target_modules) == {"q_proj", "k_proj"}
    quant = quantization_config_for(mine)
    assert quant.load_in_8bit and {"model.encoder", "model.projector", "lm_head"} <= set(quant.llm_int8_skip_modules)


def test_lora_from_the_model_config_trains_adapters_on_a_tiny_model():
    from peft.tuners.lora import LoraLayer

    from logllm.training.setup import build_model_and_processor

    _, _, model_args = parse_arguments(["--config", "fast", "--use_peft", "true"])
    model, _ = build_model_and_processor(model_args, seed=0)
    ranks = {name: module.r["default"] for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    assert {r for name, r in ranks.items() if ".decoder." in name} == {8}
    assert {r for name, r in ranks.items() if ".encoder." in name} == {4}
    assert {name.rsplit(".", 1)[1] for name in ranks} == {"q_proj", "v_proj", "query", "value"}
    assert set(model.set_training_stage(("projector", "decoder"))) == {"projector", "decoder"}
