"""A verdict and the tables made of them: one of :data:`VERDICTS` with the sentence that decided it,
its precondition and its seeds (the rules of :mod:`svl_lib.course.claims` return one), one verdict
for a claim tested in several settings (:func:`combine`), and the table of a set of claims
(:func:`verdict_table`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

VERDICTS = ("agree", "partly", "not shown", "not testable here")


@dataclass(frozen=True)
class Verdict:
    """One claim's verdict (one of :data:`VERDICTS`), the sentence that decided it, its
    precondition (``""`` if none) and its seeds."""
    verdict: str
    reason: str
    precondition: str
    seeds: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


def combine(verdicts: Sequence[Verdict], claim_parts: str = "settings") -> Verdict:
    """One verdict for a claim tested in several ``claim_parts``: all agree -> agree; some agree or
    are partly -> partly; none -> their common verdict if they share one, else "not shown"."""
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    kinds = [v.verdict for v in verdicts]
    agreeing = kinds.count("agree")
    shared = kinds[0] if len(set(kinds)) == 1 else "not shown"
    verdict = "agree" if agreeing == len(kinds) else "partly" if agreeing or "partly" in kinds else shared
    reason = f"{agreeing} of {len(kinds)} {claim_parts} agree: " + "; ".join(
        f"{v.verdict} ({v.reason})" for v in verdicts)
    precondition = "; ".join(v.precondition for v in verdicts if v.precondition)
    return Verdict(verdict, reason, precondition, "; ".join(dict.fromkeys(v.seeds for v in verdicts)))


def verdict_table(rows: Mapping[str, Verdict]) -> pd.DataFrame:
    """One row per claim (index ``claim``): verdict, reason, precondition, seeds."""
    table = pd.DataFrame([asdict(v) for v in rows.values()], index=list(rows),
                         columns=["verdict", "reason", "precondition", "seeds"])
    table.index.name = "claim"
    return table
