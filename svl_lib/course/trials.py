"""The mitigation trials of notebook 07 (T1-T7: ``svl_lib/resources/grids/trial_*.json``, 5 seeds
each): why the toy shows so little of LTD. Each comparison is a paired 95 % interval of (second run
minus first) over the seeds both runs share (the trials and their references train the same seeds
from the same initialisation), with the precondition it needs (:mod:`svl_lib.course.claims`) and its
p-value Holm-adjusted within its trial (each trial is one family)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .course_claims import LTD, PLAIN, SETTINGS, grid_tables, mean_std, paired, seeded, select, within_bound
from .intervals import holm, paired_difference

TRIALS = ("trial_clipping", "trial_paper_ltd", "trial_decoder_warmup", "trial_headroom", "trial_caption_side", "trial_image_side_ltd",
          "trial_caption_only", "trial_memorisation")
PAPER_BOUNDS = (0.05, 0.01)  # T2's eta values


def trial_results(recompute: bool = False, root: Path | str | None = None,
                  shrink: dict | None = None, seeds: int | None = None) -> dict[str, pd.DataFrame]:
    """:func:`grid_tables` of the trials and of ``claims_scratch`` (their reference)."""
    return grid_tables(("claims_scratch", *TRIALS), recompute, root, shrink, seeds)


def _row(trial: str, comparison: str, a: dict, b: dict, ta: pd.DataFrame, tb: pd.DataFrame,
         precondition: str = "") -> dict:
    """Paired differences (b minus a, per seed, on the seeds both have) of clean RSUM and RSUM with
    the shortcut, at 95 %, with their p-values (Holm-adjusted per trial by :func:`trials_table`)."""
    row = {"trial": trial, "comparison": comparison, "clean RSUM": mean_std(select(tb, **b))}
    for name, c in (("clean RSUM", "clean"), ("shortcut RSUM", "shortcut")):
        diff = paired_difference(*paired(seeded(ta, condition=c, **a), seeded(tb, condition=c, **b)))
        row[f"{name} difference"], row[f"{name} p"] = str(diff), diff.p
    return {**row, "precondition": precondition}


def _holm_per_trial(rows: pd.DataFrame) -> pd.DataFrame:
    """Each trial is one family: its p-values (clean and shortcut, every comparison) Holm-adjusted
    together, shown as "p (Holm)" columns."""
    out = rows.copy()
    for name in ("clean RSUM", "shortcut RSUM"):
        out[f"{name} p (Holm)"] = np.nan
    for _, idx in rows.groupby("trial", sort=False).groups.items():
        columns = [f"{n} p" for n in ("clean RSUM", "shortcut RSUM")]
        block = rows.loc[idx, columns].to_numpy(dtype=float)
        adjusted = np.array(holm(block.ravel().tolist())).reshape(block.shape)
        for j, name in enumerate(("clean RSUM", "shortcut RSUM")):
            out.loc[idx, f"{name} p (Holm)"] = adjusted[:, j]
    out = out.drop(columns=["clean RSUM p", "shortcut RSUM p"])
    for name in ("clean RSUM", "shortcut RSUM"):
        out[f"{name} p (Holm)"] = out[f"{name} p (Holm)"].map(lambda p: "—" if np.isnan(p) else f"{p:.3f}")
    return out


def trials_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per comparison of the trials: mean clean RSUM of the second run of the comparison,
    and the Welch 95 % intervals of (second minus first) for clean RSUM and RSUM with the shortcut,
    over 5 seeds each; the precondition a comparison needs, where it has one."""
    scratch, rows = tables["claims_scratch"], []
    clip = tables["trial_clipping"]
    for label, fields in (("clean", dict(shortcut_mode="none")), ("unique", PLAIN), ("unique + LTD", LTD)):
        rows.append(_row("T1 clipping", f"{label}: per tower minus joint", fields,
                         {**fields, "grad_clip_mode": "per_tower"}, scratch, clip))
    rows += paper_ltd_rows(tables["trial_paper_ltd"]) + warmup_rows(tables["trial_decoder_warmup"])
    head = tables["trial_headroom"]
    for label, shortcut in (("bits, n_bits 4", dict(shortcut_mode="bits", n_bits=4)),
                            ("bits, n_bits 6", dict(shortcut_mode="bits", n_bits=6)),
                            ("unique, p 0.5", dict(shortcut_mode="unique", shortcut_p=0.5)),
                            ("unique, p 0.75", dict(shortcut_mode="unique", shortcut_p=0.75))):
        plain = dict(shortcut, ltd="none", ifm_epsilon=0.0)
        floor = 3 * float(head["chance_rsum"].iloc[0])
        mean = np.mean(select(head, **plain))
        precondition = f"clean RSUM {mean:.1f} > 3 x chance {floor:.1f}: {'holds' if mean > floor else 'fails'}"
        for method, change in (("LTD", dict(ltd="constrained")), ("IFM", dict(ifm_epsilon=0.1))):
            rows.append(_row("T3 headroom", f"{label}: {method} minus none", plain, {**plain, **change},
                             head, head, precondition))
    side = tables["trial_caption_side"]
    for dim in (16, 32):
        probe = np.mean(select(side, "probe_caption", embed_dim=dim, **PLAIN))
        precondition = f"caption probe {probe:.1f} % < 90 %: {'holds' if probe < 90 else 'fails'}"
        rows.append(_row("T4 caption side", f"embed_dim {dim}: LTD minus none", dict(embed_dim=dim, **PLAIN),
                         dict(embed_dim=dim, **LTD), side, side, precondition))
    image_ltd = tables["trial_image_side_ltd"]
    rows.append(_row("T5 image-side LTD (extension)", "image-side LTD minus none", PLAIN,
                     dict(LTD, ltd_side="image"), scratch, image_ltd))
    rows.append(_row("T5 image-side LTD (extension)", "image-side minus caption-side LTD", LTD,
                     dict(LTD, ltd_side="image"), scratch, image_ltd))
    only = tables["trial_caption_only"]
    caption_only = dict(shortcut_mode="unique", shortcut_on_image=False)
    rows.append(_row("T6 caption-only control", "last-token GRU: caption-only minus clean",
                     dict(shortcut_mode="none"), caption_only, scratch, scratch))
    rows.append(_row("T6 caption-only control", "mean-pooled GRU: caption-only minus clean",
                     dict(shortcut_mode="none"), caption_only, only, only))
    memo = tables["trial_memorisation"]
    big, rec = dict(PLAIN, n_train=5000), np.mean(select(memo, "ltd_rec_train", n_train=5000, ltd="constrained"))
    uses = np.mean(select(memo, condition="shortcut", **big))
    precondition = (f"LTD's L_rec {rec:.3f} <= eta 0.1: {'holds' if rec <= 0.1 else 'fails'}; without LTD, "
                    f"shortcut RSUM {uses:.1f} >= 500: {'holds' if uses >= 500 else 'fails'}")
    rows.append(_row("T7 memorisation", "5,000 images: LTD minus none", big, dict(LTD, n_train=5000),
                     memo, memo, precondition))
    return _holm_per_trial(pd.DataFrame(rows)).set_index(["trial", "comparison"])


def _bound_counts(runs: pd.DataFrame, eta: float) -> tuple[pd.DataFrame, str]:
    """The LTD runs (one row per seed) whose L_rec the constraint bounds (training batches of the
    last epoch, captions as fed: ``ltd_rec_constraint``) is at most ``eta``, and a sentence with
    that count and the stricter one on clean captions (``ltd_rec_train``)."""
    seeds = runs.drop_duplicates("seed")
    bounded, clean = (seeds[c].astype(float) for c in ("ltd_rec_constraint", "ltd_rec_train"))
    reached = within_bound(runs, eta)
    return reached, (f"L_rec <= {eta}: {int((bounded <= eta).sum())} of {len(seeds)} runs in training "
                     f"(the constraint's own, {bounded.min():.4f} to {bounded.max():.4f}), "
                     f"{int((clean <= eta).sum())} of {len(seeds)} on clean captions "
                     f"({clean.min():.3f} to {clean.max():.3f})")


def paper_ltd_rows(table: pd.DataFrame) -> list[dict]:
    """T2: constrained LTD at the paper's bounds and multiplier rate, from scratch, against unique
    shortcuts without LTD at the same epochs. Only the LTD runs whose L_rec reached the bound in
    training (the quantity the constraint bounds) are compared; with fewer than 2 the row says so."""
    epochs = int(table["epochs"].iloc[0])
    uses = np.mean(select(table, condition="shortcut", **PLAIN))
    rows = []
    for eta in PAPER_BOUNDS:
        runs = table[(table["ltd"] == "constrained") & (table["ltd_bound"] == eta)]
        reached, counts = _bound_counts(runs, eta)
        precondition = f"{counts}; without LTD, shortcut RSUM {uses:.1f} >= 500: {'holds' if uses >= 500 else 'fails'}"
        comparison = f"eta {eta}, {epochs} epochs: LTD minus none"
        if reached["seed"].nunique() >= 2:
            rows.append(_row("T2 the paper's LTD", comparison, PLAIN, LTD, table, reached, precondition))
            continue
        untestable = "not testable: fewer than 2 runs reach the bound"
        rows.append({"trial": "T2 the paper's LTD", "comparison": comparison,
                     "clean RSUM": mean_std(select(runs, **LTD)), "clean RSUM difference": untestable,
                     "shortcut RSUM difference": untestable, "precondition": precondition})
    return rows


def warmup_rows(table: pd.DataFrame) -> list[dict]:
    """T2's fine-tuned half: the CLIP analogue's unconstrained LTD with its decoder warmed up on the
    fixed model, against no LTD and against LTD without the warm-up (same pretrained runs)."""
    plain, ltd = PLAIN, dict(PLAIN, ltd="unconstrained", ltd_decoder_warmup=0)
    warm = dict(ltd, ltd_decoder_warmup=int(table["ltd_decoder_warmup"].max()))
    uses = np.mean(select(table, condition="shortcut", **plain))
    rec = select(table, "ltd_rec_constraint", **warm)
    precondition = (f"without LTD, shortcut RSUM {uses:.1f} >= 500: {'holds' if uses >= 500 else 'fails'}; "
                    f"LTD's L_rec at the end of training {np.mean(rec):.3f}")
    name, steps = "T2 the paper's LTD", warm["ltd_decoder_warmup"]
    return [_row(name, f"fine-tuned, decoder warmed up {steps} steps: LTD minus none", plain, warm, table, table,
                 precondition),
            _row(name, "fine-tuned: LTD with minus without the warm-up", ltd, warm, table, table, precondition)]


def memorisation_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """T7 as first planned: the LTD decoder's L_rec on the training captions and on held-out test
    captions (clean), per LTD setting, and the paired interval of (held out minus training) over
    the seeds. It cannot tell memorisation through the number (the captions are clean); the
    confirmatory T7 row of :mod:`svl_lib.course.claim_rows` compares the digits' gain instead."""
    settings = [(SETTINGS[n], tables[n], dict(ltd=kind)) for n, kind in
                (("claims_scratch", "constrained"), ("claims_image_tower", "constrained"),
                 ("claims_finetune", "unconstrained")) if n in tables]
    memo = tables["trial_memorisation"]
    settings += [("from scratch, decoder width 1024", memo, dict(ltd_hidden=1024, ltd="constrained")),
                 ("from scratch, 5,000 training images", memo, dict(n_train=5000, ltd="constrained"))]
    rows = []
    for label, table, fields in settings:
        train, test = paired(*(seeded(table, f"ltd_rec_{s}", **fields) for s in ("train", "test")))
        diff = paired_difference(train, test)
        rows.append({"setting": label, "seeds": len(test), "L_rec training": f"{np.mean(train):.4f}",
                     "L_rec held out": f"{np.mean(test):.4f}",
                     "held out minus training": f"{diff.mean:.4f} [{diff.low:.4f}, {diff.high:.4f}]"})
    return pd.DataFrame(rows).set_index("setting")


def paper_ltd_table(trials: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """T2's runs: no shortcut, unique shortcuts, and unique + the paper's constrained LTD at each
    bound (mean ± std over seeds of clean RSUM, RSUM with the shortcut and the image probe; LTD's
    L_rec in training, as the constraint sees it, and on clean captions, and how many runs are
    within the bound by each)."""
    table, rows = trials["trial_paper_ltd"], []
    variants = [("clean", dict(shortcut_mode="none"), None), ("unique", PLAIN, None)]
    variants += [(f"unique + LTD, eta {eta}", dict(LTD, ltd_bound=eta), eta) for eta in PAPER_BOUNDS]
    for label, fields, eta in variants:
        get = lambda column, condition="clean": select(table, column, condition, **fields)
        bounded, clean = (get(c) if eta else [] for c in ("ltd_rec_constraint", "ltd_rec_train"))
        rows.append({"variant": label, "seeds": len(get("rsum")), "clean RSUM": mean_std(get("rsum")),
                     "shortcut RSUM": mean_std(get("rsum", "shortcut")),
                     "image probe (%)": mean_std(get("probe_image")),
                     "L_rec, training (as fed)": f"{np.mean(bounded):.4f}" if eta else "—",
                     "L_rec, clean captions": f"{np.mean(clean):.3f}" if eta else "—",
                     "runs within eta (training / clean)":
                         f"{sum(r <= eta for r in bounded)} / {sum(r <= eta for r in clean)} of {len(clean)}"
                         if eta else "—"})
    return pd.DataFrame(rows).set_index("variant")


def large_world_table(trials: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """T7's 5,000-image runs: no shortcut, unique shortcuts, unique + LTD (mean ± std over seeds of
    clean RSUM, RSUM with the shortcut, the image probe and LTD's training L_rec)."""
    memo, rows = trials["trial_memorisation"], []
    for label, fields in (("clean", dict(shortcut_mode="none")), ("unique", PLAIN), ("unique + LTD", LTD)):
        get = lambda column, condition="clean": select(memo, column, condition, n_train=5000, **fields)
        rows.append({"variant": label, "seeds": len(get("rsum")), "clean RSUM": mean_std(get("rsum")),
                     "shortcut RSUM": mean_std(get("rsum", "shortcut")),
                     "image probe (%)": mean_std(get("probe_image")),
                     "L_rec (training)": f"{np.mean(get('ltd_rec_train')):.3f}" if label == "unique + LTD" else "—"})
    return pd.DataFrame(rows).set_index("variant")


def ltd_length_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The LTD length control (``trial_ltd_length`` beside ``trial_paper_ltd``, all 30 epochs):
    unique shortcuts without LTD, and constrained LTD with the paper's as-fed targets or clean
    ones, at a tight bound (eta 0.05) and a loose one (eta 0.4); mean ± std over seeds of clean
    RSUM and RSUM with the shortcut, the L_rec the constraint bounds, and how many runs are within
    their bound."""
    paper, length = tables["trial_paper_ltd"], tables["trial_ltd_length"]
    variants = [("unique, no LTD", paper, PLAIN, None)]
    for target, label in (("as_fed", "as fed (the paper's)"), ("clean", "clean (the course's)")):
        for eta in (0.05, 0.4):
            source = paper if (target, eta) == ("clean", 0.05) else length
            variants.append((f"LTD, targets {label}, eta {eta}", source,
                             dict(LTD, ltd_bound=eta, ltd_target_caption=target), eta))
    rows = []
    for label, table, fields, eta in variants:
        get = lambda column, condition="clean": select(table, column, condition, **fields)
        bounded = get("ltd_rec_constraint") if eta else []
        rows.append({"variant": label, "seeds": len(get("rsum")), "steps": int(get("steps")[0]),
                     "clean RSUM": mean_std(get("rsum")), "shortcut RSUM": mean_std(get("rsum", "shortcut")),
                     "L_rec (training, as fed)": f"{np.mean(bounded):.4f}" if eta else "—",
                     "within eta": f"{sum(r <= eta for r in bounded)} of {len(bounded)}" if eta else "—"})
    return pd.DataFrame(rows).set_index("variant")


def digit_gain_table(memo: pd.DataFrame) -> pd.DataFrame:
    """T7 redesigned: what the digits save the LTD decoder (L_rec on clean captions minus L_rec on
    the same captions with their evaluation shortcut), on training and on held-out captions, per
    setting, and the paired interval of (training gain minus held-out gain). A decoder that
    memorised training targets through the number gains on training captions only."""
    rows = []
    for label, fields in (("1,000 images, decoder width 1024", dict(n_train=1000, ltd="constrained")),
                          ("5,000 images", dict(n_train=5000, ltd="constrained"))):
        get = {c: seeded(memo, f"ltd_rec_{c}", **fields) for c in ("train", "train_shortcut", "test", "test_shortcut")}
        train_gain, test_gain = paired(get["train"] - get["train_shortcut"], get["test"] - get["test_shortcut"])
        diff = paired_difference(test_gain, train_gain)
        rows.append({"setting": label, "seeds": len(train_gain),
                     "L_rec training: clean / with digits": f"{get['train'].mean():.4f} / {get['train_shortcut'].mean():.4f}",
                     "L_rec held out: clean / with digits": f"{get['test'].mean():.4f} / {get['test_shortcut'].mean():.4f}",
                     "training gain minus held-out gain": f"{diff.mean:.4f} [{diff.low:.4f}, {diff.high:.4f}]"})
    return pd.DataFrame(rows).set_index("setting")
