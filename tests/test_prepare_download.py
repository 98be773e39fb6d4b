"""``python -m svl_lib.data.prepare`` through its real download code, without the internet: the
Hugging Face Hub, COCO's image server and MNIST's mirror are played by a small HTTP server on
127.0.0.1 serving generated files in the upstream formats (parquet files of the COCO Karpathy
split, Flickr30k's annotation CSV, zips of JPEGs, gzipped MNIST files)."""
import errno
import gzip
import hashlib
import io
import json
import shutil
import socket
import struct
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants as hf_constants
from PIL import Image
from torchvision.datasets import MNIST

from svl_lib.config import ExperimentConfig
from svl_lib.data import hub, load_split, prepare, urls
from svl_lib.data.sources import COCO_FILES, COCO_REPO, FLICKR30K_CSV, FLICKR30K_REPO, FLICKR30K_ZIP
from svl_lib.digits import load_glyph_bank
from svl_lib.experiments.grids import grid_names, load_grid

COMMIT = "5f3c1a8e2d4b6f7081920a3b4c5d6e7f80912a3b"  # the fake Hub's one revision
SPLIT_SIZES = {"train": 40, "restval": 20, "val": 55, "test": 55}  # COCO; a subset of 50 takes 50 each
SHARD = {"train": "train", "restval": "restval", "val": "validation", "test": "test"}
FLICKR_SPLITS = ["train"] * 20 + ["val"] * 5 + ["test"] * 5
FLICKR_COLUMNS = ("raw", "sentids", "split", "filename", "img_id")


def jpeg(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), ((37 * n) % 256, (91 * n) % 256, (53 * n) % 256)).save(buffer, "JPEG")
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def idx(array: np.ndarray) -> bytes:
    """An MNIST (idx) file of a uint8 array, gzipped."""
    header = struct.pack(">I", 0x800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


class FakeServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1. Paths ``/datasets/<repo>/resolve/<rev>/<file>``
    answer like the Hub's resolve endpoint (``X-Repo-Commit``, the sha256 as ``ETag``, ``Range``);
    every path honours ``Range``. ``faults[path]`` lists what the next GETs of ``path`` get instead
    of the file: ``"drop"`` (half the body, then the connection is closed) or an HTTP status.
    Stops itself after ``lifetime`` seconds at the latest."""

    def __init__(self, lifetime: float = 300) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                outer.answer(self, body=False)

            def do_GET(self) -> None:
                outer.answer(self, body=True)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.timer = threading.Timer(lifetime, self.server.shutdown)
        self.timer.daemon = True
        self.timer.start()

    def stop(self) -> None:
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()

    def hub(self, repo: str, name: str, data: bytes) -> None:
        self.files[f"/datasets/{repo}/resolve/{COMMIT}/{name}"] = data

    def gets(self, suffix: str) -> list[str | None]:
        """The ``Range`` headers of the GETs of paths ending in ``suffix``."""
        return [r for method, path, r in self.requests if method == "GET" and path.endswith(suffix)]

    def answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path, headers = handler.path, {}
        self.requests.append((handler.command, path, handler.headers.get("Range")))
        if path.startswith("/datasets/"):
            path = path.replace("/resolve/main/", f"/resolve/{COMMIT}/")
            headers["X-Repo-Commit"] = COMMIT
        data = self.files.get(path)
        if data is None:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        fault = self.faults.get(path, []).pop(0) if body and self.faults.get(path) else None
        if isinstance(fault, int):
            handler.send_error(fault)
            return
        start = int(handler.headers["Range"][6:].split("-")[0]) if handler.headers.get("Range") else 0
        handler.send_response(206 if start else 200)
        headers |= {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "Accept-Ranges": "bytes",
                    "Content-Length": str(len(data) - start)}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if not body:
            return
        if fault == "drop":
            handler.wfile.write(data[start:start + (len(data) - start) // 2])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        handler.wfile.write(data[start:])


def coco_rows(url: str) -> dict[str, list[dict]]:
    """Rows of the four COCO parquet files, by split; imgids interleave the splits."""
    splits = [s for s, n in SPLIT_SIZES.items() for _ in range(n)]
    order = np.random.default_rng(0).permutation(len(splits))
    rows: dict[str, list[dict]] = {s: [] for s in SPLIT_SIZES}
    for imgid, k in enumerate(order):
        split = splits[k]
        folder = "train2014" if split == "train" else "val2014"
        name = f"COCO_{folder}_{1000 + imgid:012d}.jpg"
        captions = [f"image {imgid} caption {c}" for c in range(5)]
        rows[split].append({
            "filepath": folder, "filename": name, "url": f"{url}/coco/{folder}/{name}",
            "cocoid": 1000 + imgid, "imgid": imgid, "sentids": [5 * imgid + c for c in range(5)],
            "split": split,
            # Karpathy-style records in the train file, plain strings elsewhere
            "sentences": ([{"raw": c, "tokens": c.split()} for c in captions] if split == "train"
                          else captions)})
    return rows


def serve_coco(server: FakeServer, drop_column: str | None = None) -> None:
    rows = coco_rows(server.url)
    images = {}
    for split, shard in SHARD.items():
        table = pa.Table.from_pylist(rows[split][::-1])  # upstream order is not Karpathy's
        if drop_column:
            table = table.drop_columns([drop_column])
        server.hub(COCO_REPO, f"data/{shard}-00000-of-00001.parquet", parquet(table))
        for row in rows[split]:
            images[f"{row['filepath']}/{row['filename']}"] = jpeg(row["imgid"])
    for path, data in images.items():
        server.files[f"/coco/{path}"] = data
    for part in ("train2014", "val2014"):
        server.files[f"/coco/zips/{part}.zip"] = zipped(
            {path: data for path, data in images.items() if path.startswith(part)})


def serve_flickr30k(server: FakeServer, columns: tuple[str, ...] = FLICKR_COLUMNS) -> None:
    lines = [",".join(columns)]
    images = {}
    for n, split in enumerate(FLICKR_SPLITS):
        name = f"{10000 + n}.jpg"
        values = {"raw": json.dumps([f"flickr {n} caption {c}" for c in range(5)]),
                  "sentids": json.dumps([5 * n + c for c in range(5)]), "split": split,
                  "filename": name, "img_id": str(n)}
        lines.append(",".join('"' + values[c].replace('"', '""') + '"' for c in columns))
        images[f"flickr30k-images/{name}"] = jpeg(n)
    images["__MACOSX/flickr30k-images/._10000.jpg"] = b"resource fork"
    server.hub(FLICKR30K_REPO, FLICKR30K_CSV, "\n".join(lines).encode())
    server.hub(FLICKR30K_REPO, FLICKR30K_ZIP, zipped(images))


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A fresh fake server with COCO, Flickr30k and MNIST, a fresh data root, and the downloads
    pointed at the server (Hub offline mode off for these tests only, no waits between tries)."""
    fake = FakeServer()
    serve_coco(fake)
    serve_flickr30k(fake)
    resources = []
    rng = np.random.default_rng(0)
    for part, n in (("train", 30), ("t10k", 20)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))),
                            ("labels-idx1", np.arange(n) % 10)):
            name = f"{part}-{kind}-ubyte.gz"
            fake.files[f"/mnist/{name}"] = idx(array)
            resources.append((name, hashlib.md5(fake.files[f"/mnist/{name}"]).hexdigest()))
    monkeypatch.setattr(MNIST, "mirrors", [f"{fake.url}/mnist/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("SVL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(prepare, "COCO_IMAGES", f"{fake.url}/coco")
    monkeypatch.setattr(urls, "RETRY_WAIT", 0.01)
    yield fake
    fake.stop()


def records(folder: Path) -> dict[str, dict]:
    return {r["file"]: r for r in json.loads((folder / "manifest.json").read_text())["files"]}


def test_coco_subset_from_the_hub_is_a_folder_the_coco_reader_loads(server, tmp_path) -> None:
    assert prepare.main(["coco", "--subset", "50"]) == 0
    data = tmp_path / "data"
    config = ExperimentConfig(dataset="coco", data_root=str(data / "coco_subset50"), model="clip",
                              arch="tiny")
    splits = {s: load_split(config, s) for s in ("train", "val", "test")}
    assert {s: c.n_images for s, c in splits.items()} == {"train": 50, "val": 50, "test": 50}
    assert all(len(c) == 5 for corpus in splits.values() for c in corpus.captions)
    assert splits["test"].load_image(0).size == (40, 30)
    images = json.loads((data / "coco" / "dataset_coco.json").read_text())["images"]
    assert [im["imgid"] for im in images] == list(range(170))  # Karpathy's order, whatever the files'
    assert images[0]["sentences"][0] == {"raw": "image 0 caption 0"}
    train = [im for im in images if im["split"] in ("train", "restval")]
    assert splits["train"].captions[0][0] == train[0]["sentences"][0]["raw"]  # records and strings alike
    hub_records = records(data / "coco")
    assert set(hub_records) == set(COCO_FILES)
    assert all(r["repo"] == COCO_REPO and r["revision"] == COMMIT and r["downloaded"]
               for r in hub_records.values())
    name = COCO_FILES[0]
    assert hub_records[name]["sha256"] == hashlib.sha256((data / "coco" / name).read_bytes()).hexdigest()
    assert len(records(data / "coco_subset50")) == 150 and not (data / "coco" / "images").exists()
    assert load_glyph_bank("mnist").name == "mnist"  # MNIST came along
    assert prepare.main(["coco", "--subset", "50"]) == 0  # a re-run checks and fetches nothing
    assert len(server.gets(".jpg")) == 150


def test_a_cut_off_hub_download_is_tried_again_to_completion(server, tmp_path) -> None:
    name = COCO_FILES[0]
    server.faults[f"/datasets/{COCO_REPO}/resolve/{COMMIT}/{name}"] = ["drop"]
    assert prepare.main(["coco", "--subset", "2"]) == 0
    assert len(server.gets(name)) == 2  # cut off, then complete
    assert records(tmp_path / "data" / "coco")[name]["sha256"] == hashlib.sha256(
        server.files[f"/datasets/{COCO_REPO}/resolve/{COMMIT}/{name}"]).hexdigest()


def test_subset_images_are_fetched_from_their_urls_with_retries(server, tmp_path, capsys) -> None:
    rows = coco_rows(server.url)
    first_test = min(rows["test"], key=lambda r: r["imgid"])
    first_val = min(rows["val"], key=lambda r: r["imgid"])
    flaky = f"/coco/val2014/{first_test['filename']}"
    server.faults[flaky] = [503, "drop", 500]  # three failures, then the image
    del server.files[f"/coco/val2014/{first_val['filename']}"]  # gone for good
    assert prepare.main(["coco", "--subset", "3"]) == 1  # one image missing
    out = capsys.readouterr().out
    assert first_val["filename"] in out and "val: 1 problems" in out and "test: all images" in out
    half = f"bytes={len(server.files[flaky]) // 2}-"
    assert server.gets(flaky) == [None, None, half, half]  # the cut-off transfer resumed
    subset = tmp_path / "data" / "coco_subset3"
    assert (subset / "images" / "val2014" / first_test["filename"]).read_bytes() == server.files[flaky]
    assert not list(subset.rglob(".*.part"))


def test_a_file_that_does_not_match_the_manifest_is_an_error(server, tmp_path, capsys) -> None:
    assert prepare.main(["coco", "--subset", "2"]) == 0
    coco, name = tmp_path / "data" / "coco", COCO_FILES[2]
    (coco / name).write_bytes((coco / name).read_bytes()[:-1] + b"x")  # damaged on disk
    assert prepare.main(["coco", "--subset", "2"]) == 1
    err = capsys.readouterr().err
    assert "does not match" in err and name in err and "Delete it" in err
    (coco / name).unlink()  # downloaded again at the recorded revision, which now serves other bytes
    (coco / "dataset_coco.json").unlink()
    server.hub(COCO_REPO, name, parquet(pq.read_table(io.BytesIO(
        server.files[f"/datasets/{COCO_REPO}/resolve/{COMMIT}/{name}"])).slice(1)))
    assert prepare.main(["coco", "--subset", "2"]) == 1
    assert "the source changed" in capsys.readouterr().err and not (coco / name).exists()
    image = next((tmp_path / "data" / "coco_subset2" / "images").rglob("*.jpg"))
    image.write_bytes(jpeg(999))  # a subset image replaced: --verify finds it
    assert prepare.main(["coco", "--subset", "2", "--verify"]) == 1
    assert f"{image.name} does not match" in capsys.readouterr().out


@pytest.mark.parametrize("dataset,column", [("coco", "sentences"), ("coco", "url"), ("flickr30k", "img_id")])
def test_a_missing_column_is_one_error_naming_it_and_the_file(server, capsys, dataset, column) -> None:
    if dataset == "coco":
        serve_coco(server, drop_column=column)
    else:
        serve_flickr30k(server, columns=tuple(c for c in FLICKR_COLUMNS if c != column))
    assert prepare.main([dataset, "--accept-flickr30k-terms"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"no column {column!r}" in errors[0]
    assert (COCO_FILES[0] if dataset == "coco" else FLICKR30K_CSV) in errors[0]


def test_an_interrupted_extraction_is_completed_and_archives_are_deleted(server, tmp_path,
                                                                        monkeypatch) -> None:
    coco = tmp_path / "data" / "coco"
    calls = []

    def crash_on_third(source, sink, length=0):
        calls.append(1)
        if len(calls) == 3:
            sink.write(source.read(100))  # a file cut off in the middle
            raise KeyboardInterrupt
        sink.write(source.read())

    prepare.main(["coco", "--subset", "1"])  # the annotations, no archives yet
    urls.fetch_url(f"{server.url}/coco/zips/val2014.zip", coco / "val2014.zip")
    with monkeypatch.context() as patch:
        patch.setattr(hub.shutil, "copyfileobj", crash_on_third)
        with pytest.raises(KeyboardInterrupt):
            hub.extract(coco / "val2014.zip", coco / "images" / "val2014")
    partial = coco / "images" / ".val2014.partial"
    assert not (coco / "images" / "val2014").exists() and len(list(partial.iterdir())) == 3
    assert prepare.main(["coco"]) == 0  # completes val2014, downloads and extracts train2014
    assert not partial.exists() and len(list((coco / "images" / "val2014").iterdir())) == 130
    assert (coco / "val2014.zip").exists()  # found there, not downloaded by the command: kept
    assert not (coco / "train2014.zip").exists() and records(coco)["train2014.zip"]["removed"]
    assert records(coco)["val2014.zip"]["downloaded"] is False


def test_keep_archives_keeps_what_the_command_downloaded(server, tmp_path) -> None:
    assert prepare.main(["coco", "--keep-archives"]) == 0
    coco = tmp_path / "data" / "coco"
    assert (coco / "train2014.zip").is_file() and (coco / "val2014.zip").is_file()
    assert records(coco)["train2014.zip"]["url"] == f"{server.url}/coco/zips/train2014.zip"


def test_verify_of_a_subset_checks_the_subset_folder(server, tmp_path, capsys) -> None:
    assert prepare.main(["coco", "--subset", "4"]) == 0  # the full folder has the JSON, no images
    assert prepare.main(["coco", "--subset", "4", "--verify"]) == 0
    subset = tmp_path / "data" / "coco_subset4"
    assert f"data_root for the config: {subset}" in capsys.readouterr().out
    victim = next((subset / "images").rglob("*.jpg"))
    victim.unlink()
    assert prepare.main(["coco", "--subset", "4", "--verify"]) == 1
    assert f"missing: {victim.parent.name}/{victim.name}" in capsys.readouterr().out


def test_flickr30k_needs_its_terms_accepted_then_downloads(server, tmp_path, capsys) -> None:
    assert prepare.main(["flickr30k"]) == 1
    captured = capsys.readouterr()
    assert "non-commercial" in captured.out and "--accept-flickr30k-terms" in captured.err
    assert server.requests == [] and not (tmp_path / "data").exists()
    assert prepare.main(["flickr30k", "--accept-flickr30k-terms", "--subset", "3", "--keep-archives"]) == 0
    subset = tmp_path / "data" / "flickr30k_subset3"
    assert sorted(p.name for p in (subset / "images").iterdir()) == [
        "10000.jpg", "10001.jpg", "10002.jpg", "10020.jpg", "10021.jpg", "10022.jpg", "10025.jpg",
        "10026.jpg", "10027.jpg"]
    assert prepare.main(["flickr30k", "--accept-flickr30k-terms"]) == 0  # the kept archive is reused
    assert len(server.gets(FLICKR30K_ZIP)) == 1
    flickr = tmp_path / "data" / "flickr30k"
    assert not (flickr / FLICKR30K_ZIP).exists() and records(flickr)[FLICKR30K_ZIP]["removed"]
    config = ExperimentConfig(dataset="flickr30k", model="clip", arch="tiny")
    test = load_split(config, "test")
    assert test.n_images == 5 and test.captions[0][0] == "flickr 25 caption 0"


def test_mnist_is_fetched_into_the_data_root_where_the_glyph_bank_reads_it(server, tmp_path) -> None:
    assert prepare.main(["mnist"]) == 0
    assert sorted(p.name for p in (tmp_path / "data" / "MNIST" / "raw").iterdir()) == [
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["MNIST"]  # no temporary folder left
    assert len(load_glyph_bank("mnist", part="train")) == 30
    assert len(load_glyph_bank("mnist", part="eval")) == 20


def test_offline_mode_is_one_clear_error(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(hub.PrepareError, match="HF_HUB_OFFLINE is set"):
        prepare.prepare_annotations("coco", tmp_path / "coco")


def test_the_papers_grids_write_shortcuts_with_the_full_mnist() -> None:
    for name in grid_names():
        grid = load_grid(name)
        real = grid.base.dataset in ("coco", "flickr30k") or "dataset" in grid.grid
        assert (grid.base.glyph_bank == "mnist") == real, name


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_06_runs_its_real_path_on_a_prepared_coco_subset(server, tmp_path, monkeypatch) -> None:
    """The acceptance path of the real-data half, on the CPU: ``prepare coco --subset 50`` from the
    local server, then notebook 06 on that folder through its real branch (not the stand-in), with
    the tiny CLIP from random init and ``DEVICE = "cpu"``."""
    import papermill

    assert prepare.main(["coco", "--subset", "50"]) == 0
    subset = tmp_path / "data" / "coco_subset50"
    monkeypatch.setenv("SVL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the notebook itself downloads nothing
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    out = tmp_path / "06.ipynb"
    papermill.execute_notebook(
        str(notebooks / "06_real_images.ipynb"), str(out), kernel_name="python3", cwd=str(notebooks),
        progress_bar=False, parameters=dict(DATA_ROOT=str(subset), MODEL="clip", ARCH="tiny",
                                            PRETRAINED="", DEVICE="cpu", EPOCHS=1, BATCH_SIZE=25,
                                            WARMUP_STEPS=1))
    cells = json.loads(out.read_text())["cells"]
    first = next("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    assert first.startswith(f"Real experiment: coco from {subset}, clip tiny (random init) on the CPU")
    runs = sorted((tmp_path / "runs" / "06_real_images").glob("*/metrics.json"))
    assert len(runs) == 2  # the baseline and the shortcut run, no stand-in
    for path in runs:
        config = json.loads((path.parent / "config.json").read_text())
        assert (config["data_root"], config["model"], config["arch"]) == (str(subset), "clip", "tiny")
        assert json.loads(path.read_text())["eval"]["clean"]["rsum"] >= 0


# Reuse: a subset after a full preparation (or another subset) takes the images that are there.

def test_a_coco_subset_after_the_full_preparation_downloads_no_image(server, tmp_path) -> None:
    assert prepare.main(["coco"]) == 0
    before = len(server.requests)
    assert prepare.main(["coco", "--subset", "5"]) == 0
    assert server.requests[before:] == []  # no image, no archive, no annotation fetched again
    data = tmp_path / "data"
    subset_records = records(data / "coco_subset5")
    assert len(subset_records) == 15
    for name, record in subset_records.items():
        source = data / "coco" / name
        assert record["copied_from"] == str(source) and not record["downloaded"]
        assert (data / "coco_subset5" / name).read_bytes() == source.read_bytes()
        assert record["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert not list((data / "coco_subset5").rglob(".*.part"))
    assert prepare.main(["coco", "--subset", "5", "--verify"]) == 0


def test_a_smaller_coco_subset_takes_a_larger_ones_images_unless_they_were_changed(server, tmp_path) -> None:
    assert prepare.main(["coco", "--subset", "5"]) == 0
    assert len(server.gets(".jpg")) == 15
    data = tmp_path / "data"
    changed = sorted((data / "coco_subset5" / "images" / "val2014").iterdir())[0]
    changed.write_bytes(jpeg(999))  # no longer what coco_subset5's manifest recorded: not taken
    assert prepare.main(["coco", "--subset", "3"]) == 0
    fetched = [path for method, path, _ in server.requests if method == "GET" and path.endswith(".jpg")]
    assert len(fetched) == 15 + 1 and fetched[-1].endswith(changed.name)
    assert (data / "coco_subset3" / "images" / "val2014" / changed.name).read_bytes() != changed.read_bytes()


def test_a_flickr30k_subset_after_the_full_preparation_does_not_download_the_archive(server, tmp_path) -> None:
    assert prepare.main(["flickr30k", "--accept-flickr30k-terms"]) == 0
    flickr = tmp_path / "data" / "flickr30k"
    assert not (flickr / FLICKR30K_ZIP).exists()  # deleted after its extraction
    assert prepare.main(["flickr30k", "--accept-flickr30k-terms", "--subset", "3"]) == 0
    assert len(server.gets(FLICKR30K_ZIP)) == 1
    subset = tmp_path / "data" / "flickr30k_subset3" / "images"
    assert len(list(subset.iterdir())) == 9 and not (subset.parent / ".images.partial").exists()
    assert (subset / "10025.jpg").read_bytes() == (flickr / "images" / "10025.jpg").read_bytes()


# Clear errors: a network failure of the Hub and a full disk are one message each.

def error_lines(err: str) -> list[str]:
    """The command's error messages (stderr also has the download progress bars)."""
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_a_network_failure_of_the_hub_is_one_error_saying_a_rerun_resumes(server, tmp_path, monkeypatch,
                                                                       capsys) -> None:
    with socket.socket() as s:  # a port where nothing listens: the real client's connection error
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert prepare.main(["coco", "--subset", "2"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(error_lines(err)) == 1
    assert COCO_FILES[0] in err and COCO_REPO in err and "network" in err and "resumes" in err
    assert not (tmp_path / "data" / "coco" / COCO_FILES[0]).exists()


def test_an_httpx_error_from_the_hub_is_one_error_and_keeps_what_was_there(server, tmp_path, monkeypatch,
                                                                        capsys) -> None:
    httpx = pytest.importorskip("httpx")
    from huggingface_hub import hf_hub_download

    calls = []

    def cut(*args, **kwargs):  # the second file's download fails as huggingface_hub >= 1.0 does
        calls.append(args)
        if len(calls) == 2:
            raise httpx.ConnectError("[Errno 101] Network is unreachable")
        return hf_hub_download(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr("huggingface_hub.hf_hub_download", cut)
        assert prepare.main(["coco", "--subset", "2"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(error_lines(err)) == 1
    assert f"downloading {COCO_FILES[1]}" in err and "Network is unreachable" in err
    assert "run the same command again" in err and "resumes" in err
    coco = tmp_path / "data" / "coco"
    assert (coco / COCO_FILES[0]).is_file() and set(records(coco)) == {COCO_FILES[0]}
    assert not (coco / COCO_FILES[1]).exists()
    assert prepare.main(["coco", "--subset", "2"]) == 0  # the re-run resumes
    assert len(server.gets(COCO_FILES[0])) == 1


def test_a_full_disk_during_extraction_is_one_error_and_the_rerun_completes(server, tmp_path, monkeypatch,
                                                                         capsys) -> None:
    calls = []

    def fill_up_on_third(source, sink, length=0):
        calls.append(1)
        if len(calls) == 3:
            sink.write(source.read(100))
            raise OSError(errno.ENOSPC, "No space left on device")
        sink.write(source.read())

    with monkeypatch.context() as patch:
        original = hub.extract

        def extract(*args, **kwargs):  # the disk fills up in the extraction, not in the download
            patch.setattr(hub.shutil, "copyfileobj", fill_up_on_third)
            return original(*args, **kwargs)
        patch.setattr(hub, "extract", extract)
        patch.setattr(prepare, "extract", extract)
        assert prepare.main(["flickr30k", "--accept-flickr30k-terms"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(error_lines(err)) == 1
    assert "disk is full" in err and FLICKR30K_ZIP in err and "run the same command again" in err
    flickr = tmp_path / "data" / "flickr30k"
    partial = flickr / ".images.partial"
    assert not (flickr / "images").exists() and len(list(partial.iterdir())) == 3
    assert (flickr / FLICKR30K_ZIP).is_file()  # the archive stays for the re-run
    assert prepare.main(["flickr30k", "--accept-flickr30k-terms"]) == 0
    assert len(server.gets(FLICKR30K_ZIP)) == 1 and len(list((flickr / "images").iterdir())) == 30
    assert not partial.exists()


def test_a_full_disk_while_downloading_images_stops_at_once_with_one_error(server, tmp_path, monkeypatch,
                                                                        capsys) -> None:
    prepare.main(["coco", "--subset", "1"])
    shutil.rmtree(tmp_path / "data" / "coco_subset1")
    capsys.readouterr()
    before = len(server.gets(".jpg"))

    def full(source, sink, length=0):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hub.shutil, "copyfileobj", full)
    assert prepare.main(["coco", "--subset", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(error_lines(err)) == 1
    assert "disk is full" in err and "run the same command again" in err
    assert len(server.gets(".jpg")) - before <= 3  # no retries of each image on a full disk
    assert not list((tmp_path / "data" / "coco_subset1" / "images").rglob("*.jpg"))
