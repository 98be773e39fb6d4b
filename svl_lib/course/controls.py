"""The controls behind notebook 07's reading of the starts: settings compared at the same optimiser
steps and schedule, and the CLIP analogue's zero-shot start.

The fine-tuned CLIP analogue (``claims_finetune``) trains 76 steps of "pretraining" and 380 of
fine-tuning. At that budget and schedule stand beside it: (a) from scratch
(``control_scratch_matched``: the first 76 steps on this world with the variant's own shortcut),
(b) a start pretrained with the shortcut already on (``control_shortcut_start``) and (c) the VSE++
analogue, a pretrained image tower with a caption tower from scratch
(``control_image_tower_matched``). The unmatched settings of the claims grids are listed with
their steps for comparison.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .claims import uses_shortcut
from .intervals import paired_difference
from .course_claims import mean_std, paired, seeded

MATCHED = {  # grid -> setting, at the fine-tuned analogue's 76 + 380 steps
    "claims_finetune": "fine-tuned from a clean start (CLIP analogue)",
    "control_image_tower_matched": "pretrained image tower, caption tower from scratch (VSE++ analogue)",
    "control_shortcut_start": "fine-tuned from a start pretrained with the shortcut (b)",
    "control_scratch_matched": "from scratch (a)",
}
UNMATCHED = {"claims_image_tower": "pretrained image tower, 76 + 152 steps",
             "claims_scratch": "from scratch, 76 steps"}
PRETRAIN_STEPS = 76  # claims_pretrain and the first stage of (a): 4 epochs of 19 steps


def _steps(name: str, table: pd.DataFrame) -> int:
    """Optimiser steps of a setting's runs, its start's included where it has one."""
    own = int(table["steps"].iloc[0])
    return own + (PRETRAIN_STEPS if name != "claims_scratch" else 0)


def kept_table(tables: dict[str, pd.DataFrame], settings: dict[str, str] | None = None) -> pd.DataFrame:
    """Per setting (default: :data:`MATCHED`, then :data:`UNMATCHED`, those present in ``tables``):
    its optimiser steps, the clean RSUM of its clean and unique variants, the share of clean RSUM
    the unique variant keeps (mean ± std of the per-seed shares), its RSUM with the shortcut, and
    whether it uses the shortcut (RSUM with it >= 500, the precondition of reading a loss as a
    collapse onto it)."""
    rows, columns = [], ["setting", "steps", "seeds", "clean RSUM (no shortcut)", "clean RSUM (unique)", "kept (%)",
                         "shortcut RSUM (unique)", "uses the shortcut (>= 500)"]
    for name, label in (settings or {**MATCHED, **UNMATCHED}).items():
        if name not in tables:
            continue
        table = tables[name]
        clean, unique = paired(seeded(table, variant="clean"), seeded(table, variant="unique"))
        short = seeded(table, condition="shortcut", variant="unique").tolist()
        shares = (100 * np.array(unique) / np.array(clean)).tolist()
        rows.append({"setting": label, "steps": _steps(name, table), "seeds": len(clean),
                     "clean RSUM (no shortcut)": mean_std(clean), "clean RSUM (unique)": mean_std(unique),
                     "kept (%)": mean_std(shares), "shortcut RSUM (unique)": mean_std(short),
                     "uses the shortcut (>= 500)": "yes" if uses_shortcut(short) else "no"})
    return pd.DataFrame(rows, columns=columns).set_index("setting")


def kept_shares(tables: dict[str, pd.DataFrame], name: str) -> tuple[float, float]:
    """(mean share of clean RSUM kept with unique shortcuts, mean RSUM with the shortcut) of a
    setting, for the front-page figure."""
    table = tables[name]
    clean, unique = paired(seeded(table, variant="clean"), seeded(table, variant="unique"))
    return (float(np.mean(np.array(unique) / np.array(clean))),
            float(seeded(table, condition="shortcut", variant="unique").mean()))


def zero_shot_table(table: pd.DataFrame) -> pd.DataFrame:
    """The CLIP analogue against its own start: the clean RSUM of the pretrained run of each seed
    on this world before any fine-tuning (zero-shot, ``start_rsum``), after fine-tuning without
    and with unique shortcuts, and the paired difference of (fine-tuned with the shortcut minus
    start)."""
    start = seeded(table, "start_rsum", variant="unique")
    start, clean, unique = paired(start, seeded(table, variant="clean"), seeded(table, variant="unique"))
    diff = paired_difference(start, unique)
    return pd.DataFrame([{"seeds": len(start), "start (zero-shot)": mean_std(start),
                          "fine-tuned, no shortcut": mean_std(clean), "fine-tuned, unique": mean_std(unique),
                          "unique minus start (95 %)": str(diff)}], index=["clean RSUM"])
