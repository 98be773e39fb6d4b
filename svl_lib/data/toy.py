"""The toy world: procedural scenes of one object, five captions per image.

Every image shows one object with known attributes. Each of its five captions names the
*shared* content (the object: its colour and shape) plus exactly one *caption-specific* attribute
(size, position, background, texture or lighting), so no single caption says everything about the
image: the setting of the paper, where a contrastive loss need not learn all of it.

    "a red circle in the top left"        (shared: red circle; specific: position)
    "a red circle on a white background"  (specific: background)

The scene is drawn below a free band at the top of the image (``SHORTCUT_BAND`` of the height),
where the shortcut's digit tiles go, so the shortcut never hides the object. Everything is a pure
function of the seed: the same ``(seed, split)`` always gives the same pixels and captions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..files import write_text
from ..corpus import SPLITS, ArrayImages, Corpus

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "diamond", "cross"),
    "colour": ("red", "green", "blue", "yellow", "magenta", "cyan"),
    "size": ("tiny", "small", "medium", "large"),
    "position": ("top left", "top right", "bottom left", "bottom right", "centre"),
    "background": ("black", "white", "grey", "brown", "navy"),
    "texture": ("solid", "hollow", "striped"),
    "lighting": ("bright", "dim", "dark"),
}
SHARED = ("colour", "shape")
SPECIFIC = ("size", "position", "background", "texture", "lighting")  # one per caption

_RGB = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230),
    "yellow": (235, 220, 40), "magenta": (210, 50, 200), "cyan": (40, 210, 220),
    "black": (10, 10, 10), "white": (245, 245, 245), "grey": (128, 128, 128),
    "brown": (110, 70, 35), "navy": (20, 25, 90),
}
_SIZE = {"tiny": 0.08, "small": 0.11, "medium": 0.15, "large": 0.19}  # half-extent / image size
_POSITION = {  # object centre as a fraction of (width, height)
    "top left": (0.28, 0.44), "top right": (0.72, 0.44),
    "bottom left": (0.28, 0.76), "bottom right": (0.72, 0.76), "centre": (0.5, 0.6),
}
_LIGHT = {"bright": 1.0, "dim": 0.75, "dark": 0.55}
SHORTCUT_BAND = 0.25  # the top quarter stays free for the shortcut's digit tiles

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "size": ("a {size} {obj}", "{a_obj} that is {size}", "{a_obj} , {size} in size"),
    "position": ("{a_obj} in the {position}", "{a_obj} at the {position}",
                 "in the {position} there is {a_obj}"),
    "background": ("{a_obj} on a {background} background", "{a_obj} against {background}",
                   "{a_obj} with {background} behind it"),
    "texture": ("a {texture} {obj}", "{a_obj} that is {texture}", "{a_obj} drawn {texture}"),
    "lighting": ("{a_obj} in {lighting} light", "{a_obj} , the scene is {lighting}",
                 "a {lighting} picture of {a_obj}"),
}



@dataclass(frozen=True)
class ToyWorld:
    """Sizes and seed of the toy world; :meth:`split` renders one split.

    Splits are drawn from independent streams of the same seed, so growing ``n_train`` does not
    change the test images.
    """

    n_train: int = 2000
    n_val: int = 250
    n_test: int = 500
    image_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "n_test"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ToyWorld.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.image_size, int) or self.image_size < 16:
            raise ValueError(f"ToyWorld.image_size must be an integer >= 16, got {self.image_size!r}")

    def size_of(self, split: str) -> int:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]

    def split(self, split: str) -> Corpus:
        """Render one split: images ``(n, S, S, 3)`` uint8, 5 captions each, attribute labels."""
        n = self.size_of(split)
        rng = np.random.default_rng([self.seed, SPLITS.index(split)])
        labels = {a: rng.integers(len(v), size=n) for a, v in ATTRIBUTES.items()}
        images = np.stack([self._render(rng, {a: labels[a][i] for a in ATTRIBUTES})
                           for i in range(n)])
        captions = [self._captions(rng, {a: labels[a][i] for a in ATTRIBUTES}) for i in range(n)]
        return Corpus(name="toy", split=split, captions=captions, load_image=ArrayImages(images),
                      labels=labels, attribute_values=dict(ATTRIBUTES))

    def _render(self, rng: np.random.Generator, label: dict[str, int]) -> np.ndarray:
        scale = 4  # draw at 4x and downsample for smooth edges
        s = self.image_size * scale
        value = {a: ATTRIBUTES[a][label[a]] for a in ATTRIBUTES}
        img = Image.new("RGB", (s, s), _RGB[value["background"]])
        draw = ImageDraw.Draw(img)
        cx, cy = _POSITION[value["position"]]
        jitter = rng.uniform(-0.03, 0.03, size=2)
        cx, cy = (cx + jitter[0]) * s, (cy + jitter[1]) * s
        r = _SIZE[value["size"]] * s * rng.uniform(0.9, 1.1)
        colour = _RGB[value["colour"]]
        hollow = value["texture"] == "hollow"
        fill, outline, width = (None, colour, max(2, s // 32)) if hollow else (colour, None, 0)
        shape = value["shape"]
        if shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width)
        elif shape == "square":
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width)
        else:
            draw.polygon(_polygon(shape, cx, cy, r), fill=fill, outline=outline, width=width)
        if value["texture"] == "striped":
            bg = _RGB[value["background"]]
            for y in range(int(cy - r) + scale, int(cy + r) + 1, 3 * scale):
                draw.line([(cx - r, y), (cx + r, y)], fill=bg, width=scale)
        pixels = np.asarray(img.resize((self.image_size,) * 2, Image.BILINEAR), dtype=np.float32)
        pixels *= _LIGHT[value["lighting"]]
        pixels += rng.normal(0.0, 6.0, size=pixels.shape)
        return np.clip(pixels, 0, 255).astype(np.uint8)

    def _captions(self, rng: np.random.Generator, label: dict[str, int]) -> list[str]:
        value = {a: ATTRIBUTES[a][label[a]] for a in ATTRIBUTES}
        obj = f"{value['colour']} {value['shape']}"
        captions = []
        for attr in SPECIFIC:
            template = _TEMPLATES[attr][rng.integers(len(_TEMPLATES[attr]))]
            captions.append(template.format(obj=obj, a_obj=f"a {obj}", **value))
        return captions


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if shape == "cross":
        t = r / 3
        return [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t),
                (cx + r, cy + t), (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r),
                (cx - t, cy + t), (cx - r, cy + t), (cx - r, cy - t), (cx - t, cy - t)]
    raise ValueError(f"unknown shape {shape!r}")


def export_karpathy(world: ToyWorld, out_dir: Path | str, overwrite: bool = False,
                    dataset: str = "toy") -> Path:
    """Write the toy world as ``dataset_<dataset>.json`` (Karpathy format) + its images.

    The JSON has the fields of ``dataset_coco.json``: ``images[]`` with ``split``, ``imgid``,
    ``filename``, ``sentids`` and ``sentences[]`` (``raw``, ``tokens``, ``sentid``, ``imgid``), and
    the top-level ``dataset``. Toy attribute labels are kept under each image's ``toy_labels``.
    ``dataset="toy"`` writes ``images/*.png``; ``"coco"`` and ``"flickr30k"`` write JPEG files laid
    out as the real datasets (COCO: ``filepath`` ``train2014`` for train, ``val2014`` for val and
    test, and the last tenth of train as ``restval``), a stand-in for them in tests and workshops.
    Returns the JSON path. Refuses to write into an existing non-empty folder unless
    ``overwrite``; the JSON is written last (atomically), so a cut-off export has no JSON.
    """
    if dataset not in ("toy", "coco", "flickr30k"):
        raise ValueError(f"dataset must be 'toy', 'coco' or 'flickr30k', got {dataset!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; pass overwrite=True to replace its contents")
    images, sentid = [], 0
    for split in SPLITS:
        corpus = world.split(split)
        for i, caps in enumerate(corpus.captions):
            imgid = len(images)
            entry: dict = {"split": split, "imgid": imgid}
            if dataset == "toy":
                entry["filename"] = f"toy_{split}_{i:06d}.png"
            elif dataset == "flickr30k":
                entry["filename"] = f"{1000000 + imgid}.jpg"
            else:
                entry["filepath"] = "train2014" if split == "train" else "val2014"
                entry["filename"] = f"COCO_{entry['filepath']}_{imgid:012d}.jpg"
                entry["cocoid"] = imgid
                if split == "train" and i >= corpus.n_images - corpus.n_images // 10:
                    entry["split"] = "restval"
            path = out / "images" / entry.get("filepath", "") / entry["filename"]
            path.parent.mkdir(parents=True, exist_ok=True)
            corpus.load_image(i).save(path, **({} if dataset == "toy" else {"quality": 95}))
            sentences = [{"raw": c, "tokens": c.split(), "sentid": sentid + k, "imgid": imgid}
                         for k, c in enumerate(caps)]
            entry.update(sentids=[s["sentid"] for s in sentences], sentences=sentences,
                         toy_labels={a: int(corpus.labels[a][i]) for a in ATTRIBUTES})
            images.append(entry)
            sentid += len(caps)
    data = {"dataset": dataset, "images": images}  # compact, as Karpathy's files
    return write_text(out / f"dataset_{dataset}.json", json.dumps(data))
