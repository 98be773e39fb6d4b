"""svl_lib.experiments.protocols: every verdict row has a protocol that names a real rule, real grids and a
family; every committed results CSV carries the hash of the protocol and grid it was made under,
and a protocol or grid changed without a re-run makes it stale."""
import inspect
import json
from importlib.resources import files

import pytest

from svl_lib.course import claims
from svl_lib.experiments import protocols
from svl_lib.experiments.grids import grid_names
from svl_lib.experiments.results import grid_results, write_results_csv

GRID_RESULTS = files("svl_lib.resources") / "grid_results"


def committed_csvs() -> list[tuple[str, str]]:
    """(grid, stage) of every committed results CSV."""
    found = [(p.name.removesuffix(".csv"), "exploratory") for p in GRID_RESULTS.iterdir() if p.name.endswith(".csv")]
    confirmatory = GRID_RESULTS / "confirmatory"
    if confirmatory.is_dir():
        found += [(p.name.removesuffix(".csv"), "confirmatory") for p in confirmatory.iterdir()
                  if p.name.endswith(".csv")]
    return sorted(found)


def test_every_protocol_names_a_rule_its_thresholds_grids_and_family() -> None:
    rows = protocols.protocols()
    assert len(rows) == len(json.loads(protocols.PROTOCOLS.read_text())["rows"])  # ids are unique
    for row in rows.values():
        rule = getattr(claims, row.rule)
        thresholds = set(row.thresholds) - set(protocols.SELECTING)  # they select runs; the rule never sees them
        assert thresholds <= set(inspect.signature(rule).parameters), (row.id, thresholds)
        assert set(row.grids) <= set(grid_names()) and row.grids, row.id
        assert set(row.stages) <= set(protocols.STAGES) and row.stages, row.id
        assert row.tests >= 0 and row.family_tests() >= 1


def test_confirmatory_seeds_are_fresh() -> None:
    """Confirmatory seeds were never used while choosing settings: none is an exploratory seed."""
    for grid in ("claims_finetune", "claims_bits", "trial_paper_ltd"):
        assert not set(protocols.stage_seeds("confirmatory", grid)) & set(protocols.stage_seeds("exploratory", grid))
    assert protocols.stage_seeds("confirmatory", "claims_scratch") == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("grid, stage", committed_csvs())
def test_every_committed_csv_was_made_under_the_committed_protocol(grid, stage) -> None:
    """Fails when a protocol (its rule, thresholds, comparison, family, seeds) or a grid changes
    after its results were committed: re-run the grid (the command on the CSV's first line)."""
    table = grid_results(grid, stage)
    assert not table.attrs["stale"], f"{grid} ({stage}): protocol or grid changed since its CSV: re-run it"
    assert len(table) > 0


def test_a_changed_threshold_makes_the_csvs_that_it_reads_stale(monkeypatch) -> None:
    text = (GRID_RESULTS / "claims_finetune.csv").read_text()
    assert not protocols.is_stale(text, "claims_finetune", "exploratory")
    data = json.loads(protocols.PROTOCOLS.read_text())
    for row in data["rows"]:
        if row["id"] == "2":
            row["thresholds"]["margin"] = 0.2  # a looser harm bound, chosen after the results
    monkeypatch.setattr(protocols, "_data", lambda: data)
    assert protocols.is_stale(text, "claims_finetune", "exploratory")
    assert not protocols.is_stale((GRID_RESULTS / "trial_clipping.csv").read_text(), "trial_clipping", "exploratory")


def test_a_csv_without_a_protocol_line_or_of_another_stage_is_stale() -> None:
    text = (GRID_RESULTS / "claims_scratch.csv").read_text()
    unstamped = "\n".join(line for line in text.splitlines() if not line.startswith(protocols.HASH_STAMP))
    assert protocols.is_stale(unstamped, "claims_scratch", "exploratory")
    assert protocols.is_stale(text, "claims_scratch", "confirmatory")


def test_the_sweep_stamps_a_csv_only_for_the_grid_as_committed(tmp_path) -> None:
    import pandas as pd
    table = pd.DataFrame({"run": ["a"], "rsum": [1.0]})
    stamp = protocols.stamp_line("claims_scratch", "confirmatory")
    path = write_results_csv(table, tmp_path / "sub" / "x.csv", "python -m svl_lib.experiments.sweep ...", stamp)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# made by: ") and lines[1] == stamp and lines[2] == "run,rsum"
    assert not protocols.is_stale(path.read_text(), "claims_scratch", "confirmatory")


def test_sweep_stage_runs_the_fresh_seeds_in_every_stage_and_stamps_the_csv(tmp_path, monkeypatch) -> None:
    """--stage confirmatory: the required grid (claims_pretrain) and the grid itself run seeds 5-9;
    the CSV records the confirmatory protocol. With --set it records none (not the committed grid)."""
    import pandas as pd

    from svl_lib.experiments import sweep
    calls = []

    def fake_run_sweep(base, grid, root, points=({},), **_):
        calls.append((root.name, list(grid["seed"])))
        return pd.DataFrame({"run": ["r"], "condition": ["clean"], "i2t_r1": [1.0], "t2i_r1": [1.0], "rsum": [3.0]})

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    csv = tmp_path / "confirmatory" / "claims_finetune.csv"
    assert sweep.main(["--grid-file", "claims_finetune", "--stage", "confirmatory", "--out", str(tmp_path / "runs"),
                       "--csv", str(csv)]) == 0
    assert calls == [("claims_pretrain", [5, 6, 7, 8, 9]), ("runs", [5, 6, 7, 8, 9])]
    assert csv.read_text().splitlines()[1] == protocols.stamp_line("claims_finetune", "confirmatory")
    sweep.main(["--grid-file", "claims_finetune", "--out", str(tmp_path / "runs"), "--csv", str(csv),
                "--set", "epochs=2"])
    assert protocols.is_stale(csv.read_text(), "claims_finetune", "exploratory")


def test_a_new_config_field_leaves_every_protocol_hash_as_it_was(monkeypatch) -> None:
    """The hash reads the grid files as written, not the library's defaults: adding a config field
    (a new option with its default) does not make every committed result stale."""
    from svl_lib.config import ExperimentConfig
    before = {g: protocols.protocol_hash(g, "exploratory") for g in ("claims_finetune", "trial_paper_ltd")}
    plain = ExperimentConfig.to_dict
    monkeypatch.setattr(ExperimentConfig, "to_dict", lambda self: {**plain(self), "precision": "bf16"})
    assert {g: protocols.protocol_hash(g, "exploratory") for g in before} == before


def test_a_row_run_only_on_fresh_seeds_leaves_the_exploratory_results_valid(monkeypatch) -> None:
    """A confirmatory-only protocol judges no exploratory result: adding one that reads a grid
    changes that grid's confirmatory hash only."""
    data = json.loads(protocols.PROTOCOLS.read_text())
    before = {s: protocols.protocol_hash("claims_scratch", s) for s in protocols.STAGES}
    row = {**data["rows"][0], "id": "X", "grids": ["claims_scratch"], "stages": ["confirmatory"]}
    monkeypatch.setattr(protocols, "_data", lambda: {**data, "rows": [*data["rows"], row]})
    assert protocols.protocol_hash("claims_scratch", "exploratory") == before["exploratory"]
    assert protocols.protocol_hash("claims_scratch", "confirmatory") != before["confirmatory"]
