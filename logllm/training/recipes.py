"""YAML recipes and the command line -> (ScriptArguments, TrainingArguments, LogLLMModelConfig).

A recipe is flat YAML whose keys are the dataclasses' field names, plus two keys read here:

- `base: <path>` (relative to the recipe's folder): start from that recipe; every key the recipe sets replaces the
  base's value as a whole (a `stages:` list too). Bases chain (`paper/hdfs.yaml` -> `paper/base.yaml` -> `base.yaml`).
- `stages:` the list of training stages (name, trains, learning_rate, epochs, max_samples; see StageConfig).

Command-line flags override the recipe. `--config` takes a path, a path under train/recipes/ without `.yaml`
(`paper/bgl`, `tiny/synthetic`) or a short name (`quickstart`, `quickstart-random`, `fast`, `hdfs`, `bgl`, `thunderbird`, `liberty`).
Flags of the earlier per-stage form either still work (renamed ones, with a warning) or fail naming the new form.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trl import TrlParser

from logllm.training.arguments import (
    LogLLMModelConfig,
    ScriptArguments,
    parse_stages,
    select_stages,
    validate_arguments,
)

logger = logging.getLogger(__name__)


def _recipes_dir() -> Path:
    """The repository's train/recipes/, installed as the package data of `logllm.train`."""
    spec = importlib.util.find_spec("logllm.train")
    return Path(next(iter(spec.submodule_search_locations))) / "recipes"


RECIPES_DIR = _recipes_dir()
# Short names of the recipes typed most often (also the file names of the earlier flat train/recipes/ layout).
RECIPE_NAMES = {
    "quickstart": "small/synthetic.yaml",
    "quickstart-random": "default/synthetic.yaml",
    "fast": "tiny/synthetic.yaml",
    "hdfs": "paper/hdfs.yaml",
    "bgl": "paper/bgl.yaml",
    "thunderbird": "paper/thunderbird.yaml",
    "liberty": "paper/liberty.yaml",
}
# Keys every recipe (after its bases) must set: a recipe that forgets one would silently train something else.
REQUIRED_RECIPE_KEYS = ("dataset_name", "model_preset", "stages", "output_dir")

# The earlier form of the arguments. Renamed flags still work; per-stage flags moved into the `stages:` list.
RENAMED = {"use_lora": "use_peft", "keep_best": "load_best_model_at_end"}
PER_STAGE = re.compile(r"^stage(?P<name>1|2|2a|2b|3)_(?P<key>learning_rate|epochs|max_samples|freeze_encoder)$")


class RecipeError(ValueError):
    """A recipe that is missing, unreadable, loops through its bases or lacks a required field."""


def resolve_recipe(name_or_path: str) -> Path:
    """The recipe file `--config` names: a path, a path under train/recipes/ without `.yaml`, or a short name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    stem = name_or_path.removesuffix(".yaml")
    for candidate in (RECIPES_DIR / f"{stem}.yaml", RECIPES_DIR / RECIPE_NAMES.get(stem, "-")):
        if candidate.is_file():
            return candidate
    if path.parent.name == "recipes" and path.stem in RECIPE_NAMES:  # train/recipes/bgl.yaml of the flat layout
        moved = RECIPES_DIR / RECIPE_NAMES[path.stem]
        logger.warning("recipe %s moved to %s (short name: --config %s)", name_or_path, moved, path.stem)
        return moved
    known = sorted(RECIPE_NAMES) + sorted(str(p.relative_to(RECIPES_DIR).with_suffix("")) for p in _recipe_files())
    raise RecipeError(f"recipe {name_or_path!r} not found (not a file, not one of the built-in recipes {known})")


def _recipe_files() -> list[Path]:
    """The runnable recipes (bases and accelerate configs are not recipes to run)."""
    return [p for p in RECIPES_DIR.rglob("*.yaml") if "accelerate" not in p.parts and p.stem != "base"]


def load_recipe(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe's keys after resolving its `base:` chain (the recipe's own keys win)."""
    import yaml

    path = Path(path)
    if path.resolve() in _chain:
        raise RecipeError(f"{path}: recipe bases loop ({' -> '.join(str(p) for p in (*_chain, path.resolve()))})")
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RecipeError(f"{path}: cannot read the recipe ({err})") from err
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(recipe, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of argument names to values")
    check_old_keys(recipe, str(path))
    base = recipe.pop("base", None)
    if base is None:
        return recipe
    base_path = path.parent / str(base)
    if not base_path.is_file():
        raise RecipeError(f"{path}: base {base!r} not found (looked for {base_path})")
    return {**load_recipe(base_path, (*_chain, path.resolve())), **recipe}


def check_old_keys(recipe: dict[str, Any], source: str) -> None:
    """Rename keys of the earlier form in place (warning) or fail naming where the setting lives now."""
    for key in list(recipe):
        if key in RENAMED:
            logger.warning("%s: key %r is now %r", source, key, RENAMED[key])
            recipe[RENAMED[key]] = recipe.pop(key)
        elif moved_to_stages(key):
            raise RecipeError(f"{source}: key {key!r}: {moved_to_stages(key)}")


def moved_to_stages(name: str) -> str | None:
    """Where a per-stage setting of the earlier form lives now, or None if `name` is not one."""
    if name == "encoder_learning_rate":
        return ("now set per stage: `encoder_learning_rate:` on the entries of the recipe's stages: list that train "
                "the encoder")
    match = PER_STAGE.match(name)
    if match is None:
        return None
    setting = "trains: projector + decoder" if match["key"] == "freeze_encoder" else f"{match['key']}: ..."
    return (f"now set in the recipe's stages: list, as `{setting}` on the entry with name '{match['name']}' "
            "(a recipe starting with `base: <recipe>` can restate stages:; see docs/training.md)")


def translate_old_flags(argv: Iterable[str]) -> list[str]:
    """Command-line flags of the earlier form: renamed ones are rewritten (warning), per-stage ones fail."""
    out = []
    for token in argv:
        if token.startswith("--"):
            name, sep, value = token[2:].partition("=")
            name = name.replace("-", "_")
            if name in RENAMED:
                logger.warning("--%s is now --%s", name, RENAMED[name])
                token = f"--{RENAMED[name]}{sep}{value}"
            elif moved_to_stages(name):
                raise RecipeError(f"--{name} is no longer a flag: {moved_to_stages(name)}")
        out.append(token)
    return out


class RecipeParser(TrlParser):
    """`TrlParser` over (ScriptArguments, TrainingArguments, LogLLMModelConfig) that also resolves recipe names and
    `base:` chains, parses the `stages:` list and handles the earlier flags; `env:` sets environment variables."""

    def __init__(self, dataclass_types: Iterable[type] | None = None, **kwargs: Any) -> None:
        from transformers import TrainingArguments

        super().__init__(dataclass_types or (ScriptArguments, TrainingArguments, LogLLMModelConfig), **kwargs)

    def parse_args_and_config(self, args: Iterable[str] | None = None) -> tuple[Any, ...]:  # type: ignore[override]
        """Parse recipe + command line into the dataclasses (in the parser's order), with the typed stage list."""
        args = translate_old_flags(sys.argv[1:] if args is None else args)
        command = portable_command(["logllm", "train", *args])
        source, recipe = "the command line", {}
        config = _pop_option(args, "--config")
        if config is not None:
            path = resolve_recipe(config)
            source, recipe = str(path), load_recipe(path)
            missing = [key for key in REQUIRED_RECIPE_KEYS if recipe.get(key) in (None, "")]
            if missing:
                raise RecipeError(f"{path}: recipe is missing required field(s) {missing} (after its bases); "
                                  f"every recipe sets {list(REQUIRED_RECIPE_KEYS)}")
        for key, value in (recipe.pop("env", None) or {}).items():
            os.environ[key] = str(value)
        stages = recipe.pop("stages", None)
        unknown = sorted(set(recipe) - {action.dest for action in self._actions})
        if unknown:
            raise RecipeError(f"{source}: unknown recipe key(s) {unknown}; keys are the argument names of "
                              "ScriptArguments, TrainingArguments and LogLLMModelConfig (`logllm train --help`)")
        self.set_defaults_with_config(**recipe)
        if _option_value(args, "--eval_strategy") == "no" and _option_value(args, "--load_best_model_at_end") is None:
            self.set_defaults_with_config(load_best_model_at_end=False)  # no validation: no best model to load
        outputs = self.parse_args_into_dataclasses(args=args)
        script_args = next(o for o in outputs if isinstance(o, ScriptArguments))
        model_args = next(o for o in outputs if isinstance(o, LogLLMModelConfig))
        if stages is None:
            raise RecipeError("no training stages: pass --config <recipe> (e.g. --config quickstart); its stages: list "
                              "says what each stage trains")
        script_args.stages = select_stages(parse_stages(stages, source), script_args.run_stages, source)
        script_args.command = command
        validate_arguments(script_args, model_args)
        return outputs


def portable_command(argv: Iterable[str]) -> str:
    """The command line as a shell string that names no place on this machine: absolute paths under the working
    folder become relative, others keep only their last part (`<local>/name`); the model card prints it."""
    import shlex

    cwd = Path.cwd().resolve()

    def portable(token: str) -> str:
        name, sep, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if not os.path.isabs(value):
            return token
        path = Path(value)
        try:
            value = str(path.resolve().relative_to(cwd))
        except ValueError:
            value = f"<local>/{path.name}"
        return f"{name}{sep}{value}"

    return shlex.join(portable(token) for token in argv)


def _pop_option(args: list[str], option: str) -> str | None:
    """Remove `option VALUE` (or `option=VALUE`) from args and return VALUE."""
    for index, token in enumerate(args):
        if token == option:
            if index + 1 >= len(args):
                raise RecipeError(f"{option} needs a value, e.g. {option} train/recipes/default/synthetic.yaml")
            value = args[index + 1]
            del args[index:index + 2]
            return value
        if token.startswith(option + "="):
            del args[index]
            return token.split("=", 1)[1]
    return None


def _option_value(args: list[str], option: str) -> str | None:
    """The value given to `option` (either spelling, `--a_b` or `--a-b`) on the command line, lower-cased; None if
    absent."""
    spellings = {option, option.replace("_", "-")}
    for index, token in enumerate(args):
        name, sep, value = token.partition("=")
        if name in spellings:
            return value.lower() if sep else (args[index + 1].lower() if index + 1 < len(args) else "")
    return None


def parse_arguments(argv: Iterable[str] | None = None) -> tuple[ScriptArguments, Any, LogLLMModelConfig]:
    """(ScriptArguments, TrainingArguments, LogLLMModelConfig) from a recipe and flags, as `logllm train` parses them."""
    return RecipeParser().parse_args_and_config(argv)
