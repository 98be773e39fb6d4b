"""Train (or resume, or load) one run from the command line, on a CPU, one GPU, or several.

    python -m svl_lib.experiments.run runs/clip-coco --set dataset=coco model=clip arch=RN50 pretrained=openai
    python -m svl_lib.experiments.run runs/clip-coco-10 --config runs/clip-coco/config.json --set epochs=10
    accelerate launch --num_processes 4 -m svl_lib.experiments.run runs/clip-coco --config clip.json
    torchrun --nproc_per_node 4 -m svl_lib.experiments.run runs/clip-coco --config clip.json

``--config`` is a JSON file of :class:`~svl_lib.config.ExperimentConfig` fields (a run folder's
``config.json`` works too); ``--set`` overrides fields with Python literals (``True``, ``None``,
``1e-5``; other text is a string);
fields set nowhere keep their defaults.
Train-or-load: a finished run of the same config is loaded, an unfinished one resumed. With several
processes, ``batch_size`` is the global batch (:mod:`svl_lib.distributed`), and their process group
is destroyed at the end of the run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import ExperimentConfig
from ..distributed import is_main, leave
from .experiment import run_or_load
from .sweep import parse_assignments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the run folder")
    parser.add_argument("--config", type=Path, default=None, help="a JSON file of config fields")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    values = json.loads(args.config.read_text()) if args.config else {}
    values.pop("schema", None)  # a run folder's config.json carries its schema version
    try:
        values.update(parse_assignments(args.set, many=False))
    except ValueError as error:
        parser.error(str(error))
    metrics = run_or_load(ExperimentConfig.from_dict(values), args.out)
    if is_main():
        for condition, result in metrics["eval"].items():
            print(f"{condition:>13}: RSUM {result['rsum']:.1f}")
        print(f"run folder: {args.out}")
    leave()  # the launcher's process group, if the run joined one, destroyed at its end
    return 0


if __name__ == "__main__":
    sys.exit(main())
