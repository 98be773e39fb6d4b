"""The answer key of the notebooks' exercises: the numbers each solution quotes, from the runs of
:mod:`svl_lib.course.exercises`, written to ``notebooks/answers/<notebook>.md`` (committed). A
solution quotes only numbers of that file or of its notebook's committed outputs (tested).
``python -m svl_lib.course.answers [--notebook 01_toy_shortcuts ...]`` writes the files; about 15
minutes on two CPU cores.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .exercises import EXERCISES, Answer

ANSWERS = Path(__file__).resolve().parents[2] / "notebooks" / "answers"


def answer_page(notebook: str, answers: dict[int, Answer], command: str) -> str:
    """The answer file of ``notebook``: per exercise, its quantities and values."""
    lines = [f"# Answers to the exercises of {notebook}", "",
             f"Made by `{command}`; seed 0, the notebook's default sizes.", ""]
    for exercise, answer in answers.items():
        lines += [f"## Exercise {exercise}", "", "| quantity | value |", "| --- | --- |"]
        lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in answer.items()] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m svl_lib.course.answers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", nargs="*", choices=sorted(EXERCISES), default=sorted(EXERCISES))
    parser.add_argument("--out", type=Path, default=ANSWERS, help="folder of the answer files (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for notebook in args.notebook:
        answers = {k: fn() for k, fn in EXERCISES[notebook].items()}
        page = answer_page(notebook, answers, f"python -m svl_lib.course.answers --notebook {notebook}")
        (args.out / f"{notebook}.md").write_text(page, encoding="utf-8")
        print(f"{notebook}: {len(answers)} exercises -> {args.out / f'{notebook}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
