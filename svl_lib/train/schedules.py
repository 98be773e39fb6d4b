"""Learning-rate schedules as per-step multipliers of the base rate: the paper's CLIP schedule
(linear warm-up, then cosine to 0) and its VSE++ schedule (x0.1 every ``step_epochs`` epochs)."""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR multiplier: ``(step+1)/warmup`` during warm-up, then cosine from 1 to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def step_decay(step: int, steps_per_epoch: int, step_epochs: int) -> float:
    """LR multiplier of the VSE++ schedule: ``0.1 ** (epoch // step_epochs)``."""
    return 0.1 ** ((step // steps_per_epoch) // step_epochs)


def lr_multiplier(schedule: str, total: int, warmup: int, steps_per_epoch: int, step_epochs: int,
                  delay: int = 0) -> Callable[[int], float]:
    """The LR multiplier per step of one parameter group: ``"cosine"`` (:func:`warmup_cosine`) over
    the ``total`` steps or ``"step"`` (:func:`step_decay`); with ``delay``, 0 during the first
    ``delay`` steps, then the schedule over the steps left, as if training began there."""
    if schedule == "step":
        base = partial(step_decay, steps_per_epoch=steps_per_epoch, step_epochs=step_epochs)
    else:
        base = partial(warmup_cosine, warmup=warmup, total=total - delay)
    return base if delay == 0 else partial(_after, base=base, delay=delay)


def _after(step: int, base: Callable[[int], float], delay: int) -> float:
    return 0.0 if step < delay else base(step - delay)
