"""The experiment grids shipped with the course: one per experiment of the paper (toy, CLIP, VSE++),
each valid at every point and runnable with one command."""
import pytest

from svl_lib.runs import run_status
from svl_lib.grids import grid_names, load_grid
from svl_lib.sweep import main

EXPECTED = {  # grid -> number of runs
    "toy_shortcuts": 12, "toy_bits": 14, "toy_temperature": 8, "toy_ltd": 8, "toy_ifm": 10,
    "clip_shortcuts": 12, "clip_bits": 28, "clip_temperature": 16, "clip_ltd": 24, "clip_ifm": 20,
    "vse_shortcuts": 8, "vse_bits": 28, "vse_ltd": 24, "vse_ifm": 20,
}


@pytest.mark.parametrize("name", grid_names())
def test_every_grid_is_valid_at_every_point(name, tmp_path) -> None:
    grid = load_grid(name)
    plan = grid.plan(tmp_path)
    assert len(plan) == EXPECTED[name] and grid.experiment
    assert len({folder for folder, _ in plan}) == len(plan)  # one folder per point
    if name.startswith(("clip", "vse")):
        assert {config.dataset for _, config in plan} == {"coco", "flickr30k"}
        assert {config.model for _, config in plan} == {name.split("_")[0]}


def test_the_shipped_grids_are_the_expected_ones() -> None:
    assert set(grid_names()) == set(EXPECTED)
    with pytest.raises(ValueError, match="no grid 'nope'"):
        load_grid("nope")


@pytest.mark.slow
def test_a_grid_runs_with_one_command_and_skips_what_finished(tmp_path, capsys) -> None:
    args = ["--grid-file", "toy_shortcuts", "--out", str(tmp_path), "--grid", "seed=0", "--set",
            "n_train=300", "n_test=50", "epochs=1", "batch_size=64", "probes=False"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("toy_shortcuts: Toy: baseline") and out.count(": train") == 4
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["shortcut_mode=none,seed=0", "shortcut_mode=unique,seed=0",
                       "shortcut_mode=unique,shortcut_on_caption=False,seed=0",
                       "shortcut_mode=unique,shortcut_on_image=False,seed=0"]
    assert all(run_status(tmp_path / f) == "finished" for f in folders)
    assert main(args) == 0 and capsys.readouterr().out.count("skip (finished)") == 4
