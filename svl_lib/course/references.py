"""The two levels every RSUM table reads against: **chance** (random scores) and the **ceiling** (the
best any model can reach when identical caption strings tie and a tie counts against the query,
:func:`~svl_lib.evaluate.retrieval.ceiling_metrics`). On the toy world many images share caption strings,
so its clean ceiling is below 600; captions with a unique shortcut number are all distinct, so
that condition's ceiling is 600.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..config import ExperimentConfig
from ..data.loading import eval_captions
from ..evaluate.conditions import chance_level
from ..experiments.run_data import build_data
from ..experiments.registries import resolve
from ..evaluate.retrieval import ceiling_metrics

ROWS = {"chance": "chance (random scores)", "ceiling": "ceiling (identical captions tie)"}


def reference_levels(config: ExperimentConfig) -> dict[str, float]:
    """``chance``, ``ceiling`` (clean captions) and ``ceiling with shortcut`` (the captions as the
    shortcut and caption-only conditions give them, :meth:`ExperimentConfig.eval_spec`) of the
    split ``config`` evaluates on."""
    data = build_data(resolve(config))  # the run's own evaluation split and injector
    corpus = data.eval
    texts, owners = eval_captions(corpus, data.eval_injector)
    with_shortcut: list[list[str]] = [[] for _ in range(corpus.n_images)]
    for text, owner in zip(texts, owners):
        with_shortcut[owner].append(text)
    return {"chance": chance_level(corpus)["rsum"],
            "ceiling": ceiling_metrics(corpus.captions)["rsum"],
            "ceiling with shortcut": ceiling_metrics(with_shortcut)["rsum"]}


def with_references(table: pd.DataFrame, levels: Mapping[str, float],
                    columns: Mapping[object, str] | Sequence | None = None,
                    decimals: int = 1) -> pd.DataFrame:
    """``table`` with a chance row and a ceiling row appended (``levels`` from
    :func:`reference_levels`). ``columns``: the RSUM columns to fill, each mapped to the condition
    whose captions it scores (``"clean"``, or ``"shortcut"`` for any condition whose captions carry
    the digits); a list means each column's name says it (``"shortcut"`` or ``"caption"`` in it:
    captions with digits); default every column whose name contains "RSUM". Other columns stay
    empty."""
    if columns is None:
        columns = [c for c in table.columns if "RSUM" in str(c)]
    if not isinstance(columns, Mapping):
        columns = {c: "shortcut" if any(w in str(c).lower() for w in ("shortcut", "caption"))
                   else "clean" for c in columns}
    missing = [c for c in columns if c not in table.columns]
    bad = {c: v for c, v in columns.items() if v not in ("clean", "shortcut")}
    if not columns or missing or bad:
        raise ValueError(f"RSUM columns {missing or bad or 'none'} not usable (table columns: "
                         f"{list(table.columns)}): pass columns={{name: 'clean' or 'shortcut'}}")
    ceiling = {"clean": levels["ceiling"], "shortcut": levels["ceiling with shortcut"]}
    rows = pd.DataFrame({c: [round(levels["chance"], decimals), round(ceiling[kind], decimals)]
                         for c, kind in columns.items()}, index=list(ROWS.values()), dtype=object)
    return pd.concat([table.astype(object), rows.reindex(columns=table.columns)]).fillna("")


CAPTIONS_WITH_DIGITS = ("shortcut", "caption_only")  # the evaluation conditions whose captions carry them


def reference_columns(table: pd.DataFrame, levels: Mapping[str, float], decimals: int = 1) -> pd.DataFrame:
    """For a table with one row per evaluation condition (index ``clean``, ``shortcut``,
    ``image_only``, ``caption_only``, as :func:`~svl_lib.experiments.results.conditions_table`): ``table`` with
    the columns ``chance RSUM`` and ``ceiling RSUM`` (each condition's ceiling follows its captions)."""
    unknown = [c for c in table.index if c not in ("clean", "image_only", *CAPTIONS_WITH_DIGITS)]
    if unknown:
        raise ValueError(f"rows {unknown} are not evaluation conditions: use with_references for this table")
    out = table.copy()
    out["chance RSUM"] = round(levels["chance"], decimals)
    out["ceiling RSUM"] = [round(levels["ceiling with shortcut" if c in CAPTIONS_WITH_DIGITS else "ceiling"],
                                 decimals) for c in table.index]
    return out
