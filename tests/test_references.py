"""Tests for svl_lib.course.references: the chance and ceiling rows of RSUM tables."""
from __future__ import annotations

import pandas as pd
import pytest

from svl_lib.config import ExperimentConfig
from svl_lib.data import load_split
from svl_lib.evaluate.conditions import chance_level
from svl_lib.course.references import ROWS, reference_columns, reference_levels, with_references
from svl_lib.evaluate.retrieval import ceiling_metrics

TOY = dict(n_train=60, n_val=10, n_test=40)


def test_levels_of_the_toy_split():
    config = ExperimentConfig(**TOY)
    levels = reference_levels(config)
    corpus = load_split(config, "test")
    assert levels["chance"] == pytest.approx(chance_level(corpus)["rsum"])
    assert levels["ceiling"] == pytest.approx(ceiling_metrics(corpus.captions)["rsum"])
    assert levels["ceiling"] < 600  # the toy's images share caption strings
    assert levels["ceiling with shortcut"] == pytest.approx(600)  # unique numbers make them distinct


def test_a_shared_number_lowers_the_ceiling_with_the_shortcut():
    one_bit = reference_levels(ExperimentConfig(**TOY, shortcut_mode="bits", n_bits=1))
    unique = reference_levels(ExperimentConfig(**TOY, shortcut_mode="unique"))
    assert one_bit["ceiling"] <= one_bit["ceiling with shortcut"] < unique["ceiling with shortcut"]


LEVELS = {"chance": 12.73, "ceiling": 570.8, "ceiling with shortcut": 598.56}


def test_rows_fill_the_rsum_columns_by_their_condition():
    table = pd.DataFrame({"seeds": [3], "clean RSUM": ["264.0 ± 3.1"], "shortcut RSUM": ["552.6 ± 1.0"],
                          "probe caption": ["99.8"]}, index=["baseline"])
    out = with_references(table, LEVELS)
    assert list(out.index) == ["baseline", *ROWS.values()]
    assert out.loc[ROWS["chance"], "clean RSUM"] == 12.7
    assert out.loc[ROWS["ceiling"], "clean RSUM"] == 570.8
    assert out.loc[ROWS["ceiling"], "shortcut RSUM"] == 598.6
    assert out.loc[ROWS["ceiling"], "probe caption"] == "" and out.loc[ROWS["chance"], "seeds"] == ""
    assert out.loc["baseline", "clean RSUM"] == "264.0 ± 3.1"  # the table's own rows are kept


def test_explicit_columns_and_their_errors():
    table = pd.DataFrame({"clean": [200.0], "shortcut": [300.0]})
    out = with_references(table, LEVELS, columns={"clean": "clean", "shortcut": "shortcut"})
    assert out["shortcut"].tolist()[-1] == 598.6
    with pytest.raises(ValueError, match="columns="):
        with_references(table, LEVELS)  # no column named RSUM
    with pytest.raises(ValueError, match="columns="):
        with_references(table, LEVELS, columns={"nope": "clean"})
    with pytest.raises(ValueError, match="columns="):
        with_references(table, LEVELS, columns={"clean": "sideways"})


def test_condition_rows_get_their_own_ceiling():
    table = pd.DataFrame({"rsum": [20.0, 550.0, 30.0, 40.0]},
                         index=["clean", "shortcut", "image_only", "caption_only"])
    out = reference_columns(table, LEVELS)
    assert out["ceiling RSUM"].tolist() == [570.8, 598.6, 570.8, 598.6]
    assert out["chance RSUM"].tolist() == [12.7] * 4
    with pytest.raises(ValueError, match="with_references"):
        reference_columns(pd.DataFrame({"rsum": [1.0]}, index=["baseline"]), LEVELS)
