"""One vocabulary of anomaly kinds: the generators, normal-only synthesis and old names all meet in it."""

from __future__ import annotations

import logging

import pytest

from logllm.dataset.normal_only import SLIDING_KINDS, SYNTHESIZED_KINDS, AnomalySynthesizer
from logllm.logs.anomaly_kinds import ANOMALY_KINDS, RENAMED_KINDS, canonical_kind, parse_kinds
from logllm.logs.synthetic import GENERATED_KINDS


def test_every_kind_in_use_is_named_and_described_once():
    for kinds in (GENERATED_KINDS, SYNTHESIZED_KINDS, SLIDING_KINDS):
        assert set(kinds) <= set(ANOMALY_KINDS)
    assert all(text and "\n" not in text for text in ANOMALY_KINDS.values())
    assert not set(RENAMED_KINDS) & set(ANOMALY_KINDS) and set(RENAMED_KINDS.values()) <= set(ANOMALY_KINDS)
    # the kinds both sides make are the same names (the generator and the synthesiser used to differ)
    assert {"missing_step", "out_of_order", "abnormal_value", "unseen_template"} <= set(GENERATED_KINDS) & set(SYNTHESIZED_KINDS)
    synth = AnomalySynthesizer(["INFO a 1", "INFO b 2"], seed=0)
    assert all(callable(getattr(synth, kind)) for kind in SYNTHESIZED_KINDS)


def test_old_names_map_to_the_new_with_a_message(caplog):
    caplog.set_level(logging.WARNING, logger="logllm.logs.anomaly_kinds")
    assert parse_kinds("unseen_template, dropped_steps,parameter_outlier", SYNTHESIZED_KINDS) == (
        "unseen_template", "missing_step", "abnormal_value")
    assert "'dropped_steps' is now called 'missing_step'" in caplog.text
    assert canonical_kind("synthetic:reordered_steps") == "synthetic:out_of_order"
    assert canonical_kind("KERNDTLB") == "KERNDTLB"          # real alert categories pass through
    assert AnomalySynthesizer(["INFO a 1"], kinds=["reordered_steps"]).kinds == ("out_of_order",)


def test_unknown_kinds_list_what_each_allowed_kind_means():
    with pytest.raises(ValueError, match=r"unknown kind\(s\) \['typo'\].*error_burst: a warning"):
        parse_kinds("typo", GENERATED_KINDS)
    with pytest.raises(ValueError, match="none given"):
        parse_kinds(" , ", GENERATED_KINDS)


def test_normal_only_kinds_argument_takes_old_names(tmp_path):
    from logllm.training.recipes import parse_arguments

    script_args, _, _ = parse_arguments(["--config", "quickstart", "--output_dir", str(tmp_path), "--normal-only",
                                         "--normal_only_kinds", "dropped_steps,error_level"])
    assert script_args.normal_only_kinds == "missing_step,error_level"


def test_holdout_categories_and_saved_categories_with_old_names():
    from logllm.dataset.generalization import unseen_type_split

    windows = []
    for i, cats in enumerate([[], [], [], [], ["synthetic:dropped_steps"], ["synthetic:dropped_steps"],
                              ["synthetic:error_level"], ["synthetic:error_level"]]):
        windows.append({"window_id": f"w{i}", "label": int(bool(cats)), "categories": cats})
    split = unseen_type_split(windows, ["synthetic:dropped_steps"], seed=0)
    assert split.test_categories == ("synthetic:missing_step",)
    assert {w["window_id"] for w in split.test if w["label"]} == {"w4", "w5"}
