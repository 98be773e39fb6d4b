"""svl_lib.course.loss_comparison: the 'takes the shortcut' rule and the suppressed attributes, on
constructed run metrics."""
import pytest

from svl_lib.course.loss_comparison import image_probes, shortcut_by_loss, suppressed_attributes

ATTRS = ("colour", "shape", "size")


def run(clean: float, shortcut: float, probes: tuple[float, ...]) -> dict:
    return {"eval": {"clean": {"rsum": clean}, "shortcut": {"rsum": shortcut}},
            "probes": [{"modality": "image", "kind": "attribute", "target": a, "accuracy": acc}
                       for a, acc in zip(ATTRS, probes)]
            + [{"modality": "caption", "kind": "attribute", "target": "colour", "accuracy": 0.0},
               {"modality": "image", "kind": "shortcut", "target": "digit_0", "accuracy": 0.0}]}


BASE = [run(230 + s, 100, (0.9, 0.8, 0.5 + s / 100)) for s in range(3)]
TAKEN = [run(20 + s, 450 + s, (0.5, 0.7, 0.5)) for s in range(3)]
KEPT = [run(225 + 2 * s, 300, (0.9, 0.8, 0.5)) for s in range(3)]


def test_a_loss_takes_the_shortcut_only_when_clean_falls_and_the_number_matches() -> None:
    table = shortcut_by_loss({"a": (BASE, TAKEN), "b": (BASE, KEPT)})
    assert table.loc["a", "verdict"] == "takes the shortcut"
    assert table.loc["b", "verdict"] == "not shown"  # clean RSUM holds, shortcut RSUM 300 < 400
    assert table.loc["b", "shortcut RSUM"] == 300 and table.loc["a", "seeds"] == 3
    assert shortcut_by_loss({"a": (BASE, TAKEN)}, threshold=500).loc["a", "verdict"] == "not shown"
    one = shortcut_by_loss({"a": (BASE[:1], TAKEN)}).loc["a"]
    assert one["verdict"].startswith("not testable") and one["seeds"] == "1 and 3"


def test_suppressed_attributes_per_loss_and_their_rank_agreement() -> None:
    assert list(image_probes(BASE).columns) == list(ATTRS)  # image attribute probes only
    drops, rho = suppressed_attributes({"a": (BASE, TAKEN), "b": (BASE, TAKEN[::-1])})
    assert drops.loc["colour", "a"] == pytest.approx(40.0) and drops.loc["shape", "a"] == pytest.approx(10.0)
    assert rho == pytest.approx(1.0)
    other = [run(20, 450, (0.9, 0.4, 0.2)) for _ in range(3)]
    assert suppressed_attributes({"a": (BASE, TAKEN), "b": (BASE, other)})[1] < 0
