"""Downloads for :mod:`svl_lib.data.prepare`: files of Hugging Face Hub dataset repositories (plain
URLs: :mod:`svl_lib.data.urls`), a manifest of what was fetched, and archive extraction that survives interruption.

Manifest: ``manifest.json`` in the folder it describes, ``{"files": [record, ...]}``, one record
per file with ``file`` (the path relative to that folder), ``repo`` and ``revision`` (the commit it
was resolved to) or ``url``, ``size``, ``sha256``, ``downloaded`` (``True`` when this code fetched
it, ``False`` when it found the file there) and, for an archive deleted after its extraction,
``removed``; a file taken from another prepared folder instead of being downloaded
(:func:`reuse_file`) has ``copied_from`` (its path there) and ``downloaded: False``. A file that is
present and recorded is checked against its record before it is used; a file downloaded again is
fetched at the recorded revision and must have the recorded checksum.

Nothing here deletes or overwrites a file it did not write: downloads, extractions and copies go
to temporary names beside their target and are renamed when complete. A failed download (the
network, the server) and a full disk are each one :class:`PrepareError` saying what failed and that
running the same command again resumes: what is complete stays, what is partial is completed.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..files import write_json

MANIFEST = "manifest.json"
PERMANENT = (401, 403, 404, 410)  # HTTP answers that another try would not change


class PrepareError(RuntimeError):
    """A problem with the data or its sources that the message explains how to fix."""


class DiskFullError(PrepareError):
    """The disk filled up while a file was written (``ENOSPC``); see :func:`disk_full`."""


RESUMES = ("run the same command again: it resumes where it stopped (what is complete is kept, "
           "what is partial is completed)")


def disk_full(err: OSError, what: str, where: Path) -> DiskFullError:
    """The error for ``err`` (``ENOSPC``) raised while ``what`` wrote into the folder ``where``."""
    folder = Path(where)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**30:.1f} GiB free there now"
    except OSError:
        free = "free space unknown"
    return DiskFullError(f"the disk is full: {what} stopped ({err.strerror or err}; {where}, {free}). "
                         f"Free some space and {RESUMES}.")


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno == errno.ENOSPC


def hub_network_errors() -> tuple[type[BaseException], ...]:
    """What a failed download through huggingface_hub raises besides ``OSError`` (its own errors
    before 1.0): the errors of its HTTP client (``httpx`` from 1.0 on; whatever class its
    ``errors.HTTPError`` is) and of its Xet transfers, each only where installed."""
    found: list[type[BaseException]] = []
    try:
        from huggingface_hub import errors
    except ImportError:
        errors = None
    for cls in (getattr(errors, "HTTPError", None), getattr(errors, "XetDownloadError", None)):
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    try:
        import httpx
    except ImportError:
        pass
    else:
        found.append(httpx.HTTPError)
    return tuple(found)


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file at ``path``, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Manifest:
    """The ``manifest.json`` of ``folder`` (see the module doc); :meth:`save` writes it."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        try:
            data = json.loads(self.path.read_text()) if self.path.is_file() else {"files": []}
            self.records: dict[str, dict] = {r["file"]: r for r in data["files"]}
        except (ValueError, KeyError, TypeError) as err:
            raise PrepareError(f"{self.path} cannot be read ({err!r}): delete it, and the files it "
                               "recorded are checked as found there on the next run") from None

    def save(self) -> None:
        write_json(self.path, {"files": list(self.records.values())})

    def revision(self, repo: str) -> str | None:
        """The commit earlier files of ``repo`` were fetched at (``None`` before the first)."""
        return next((r["revision"] for r in self.records.values() if r.get("repo") == repo), None)

    def check(self, name: str) -> None:
        """Compare the file ``name`` with its record (size, then SHA-256); a file with no record
        is recorded as found (``downloaded: False``). Mismatch: :class:`PrepareError`."""
        path, record = self.folder / name, self.records.get(name)
        if record is None:
            self.records[name] = {"file": name, "size": path.stat().st_size,
                                  "sha256": sha256_file(path), "downloaded": False}
            return
        size = path.stat().st_size
        digest = sha256_file(path) if size == record["size"] else None
        if digest != record["sha256"]:
            source = (record.get("url") or record.get("copied_from")
                      or f"{record.get('repo')}@{record.get('revision')}")
            found = f"sha256 {digest}" if digest else f"{size:,} bytes"
            raise PrepareError(
                f"{path} does not match {self.path} (found {found}; recorded sha256 "
                f"{record['sha256']}, {record['size']:,} bytes, from {source}): the file changed "
                "or is damaged. Delete it and run the command again to download it again.")

    def add(self, name: str, source: dict, digest: str | None = None) -> None:
        """Record the file ``name`` as downloaded from ``source`` (``repo`` + ``revision`` or
        ``url``); a file downloaded again must match its earlier record."""
        path = self.folder / name
        record = {"file": name, **source, "size": path.stat().st_size,
                  "sha256": digest or sha256_file(path), "downloaded": True}
        old = self.records.get(name)
        if old is not None and old["sha256"] != record["sha256"]:
            path.unlink()
            raise PrepareError(
                f"{name} downloaded again from {source} has sha256 {record['sha256']}, but "
                f"{self.path} recorded {old['sha256']}: the source changed. Delete {self.path} "
                "to accept the new version (and rebuild what was made from the old one).")
        self.records[name] = record


def fetch_hub_file(manifest: Manifest, repo: str, name: str, endpoint: str | None = None) -> Path:
    """The file ``name`` of the Hub dataset repository ``repo`` at ``manifest.folder / name``:
    checked against the manifest when it is there, else downloaded with ``hf_hub_download``
    (which takes up a cut-off transfer again where it stopped, a few times) at the revision the
    manifest pins for ``repo`` (the current ``main`` the first time) and recorded."""
    path = manifest.folder / name
    if path.is_file():
        manifest.check(name)
        return path
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
        from huggingface_hub.utils import OfflineModeIsEnabled
    except ImportError:
        raise PrepareError("downloading needs huggingface_hub: pip install 'svl_lib[real]'") from None
    revision = (manifest.records.get(name) or {}).get("revision") or manifest.revision(repo) or "main"
    print(f"downloading {name} from the Hugging Face dataset {repo} ...")
    try:
        meta = get_hf_file_metadata(hf_hub_url(repo, name, repo_type="dataset", revision=revision,
                                               endpoint=endpoint))
        hf_hub_download(repo, name, repo_type="dataset", revision=meta.commit_hash,
                        local_dir=manifest.folder, endpoint=endpoint)
    except OfflineModeIsEnabled:
        raise PrepareError(f"HF_HUB_OFFLINE is set, so {repo}/{name} cannot be downloaded: unset it, "
                           f"or put the file at {path}") from None
    except (OSError, *hub_network_errors()) as err:
        if is_disk_full(err):
            raise disk_full(err, f"downloading {name} from the Hugging Face dataset {repo}",
                            manifest.folder) from None
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in PERMANENT:  # an answer that another try would not change
            raise PrepareError(f"downloading {name} from the Hugging Face dataset {repo} failed: "
                               f"{err}") from None
        raise PrepareError(f"downloading {name} from the Hugging Face dataset {repo} failed "
                           f"({type(err).__name__}: {_one_line(err)}): check the network "
                           f"(and HF_ENDPOINT, if set) and {RESUMES}.") from None
    digest = sha256_file(path)
    if meta.etag and len(meta.etag) == 64 and meta.etag != digest:  # large files: the etag is the sha256
        path.unlink()
        raise PrepareError(f"{name} from {repo} arrived damaged (sha256 {digest}, the Hub says "
                           f"{meta.etag}): run the command again")
    manifest.add(name, {"repo": repo, "revision": meta.commit_hash}, digest)
    manifest.save()
    return path


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or repr(err)


def image_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The ``.jpg`` files of ``archive`` by file name; they must lie in one folder."""
    jpgs = [i for i in archive.infolist() if i.filename.lower().endswith(".jpg")
            and not i.filename.startswith("__MACOSX/")]
    folders = {i.filename.rpartition("/")[0] for i in jpgs}
    if len(folders) != 1:
        raise PrepareError(f"{archive.filename} holds no folder of .jpg files (found "
                           f"{len(jpgs):,} in {len(folders)} folders): the upstream format changed")
    return {i.filename.rpartition("/")[2]: i for i in jpgs}


def extract(archive: Path, target: Path, names: set[str] | None = None) -> None:
    """The images of ``archive`` (or only those named in ``names``) as the folder ``target``.

    They are written into ``.<target name>.partial`` beside ``target``, which is renamed to
    ``target`` once every file is there with its size in the archive; a partial folder left by an
    interrupted run is completed (files of the right size kept, the others written again). An
    existing ``target`` is left as it is. A full disk is a :class:`DiskFullError`."""
    if target.exists():
        return
    partial = partial_folder(target)
    partial.mkdir(parents=True, exist_ok=True)
    print(f"extracting {archive.name} into {target} ...")
    try:
        with zipfile.ZipFile(archive) as z:
            members = image_members(z)
            missing = sorted((names or set()) - set(members))
            if missing:
                raise PrepareError(f"{archive} lacks {len(missing):,} images of the split file, e.g. "
                                   f"{missing[0]}: delete it and run the command again")
            for name in sorted(names or members):
                info, out = members[name], partial / name
                if out.is_file() and out.stat().st_size == info.file_size:
                    continue
                with z.open(info) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
    except zipfile.BadZipFile as err:
        raise PrepareError(f"{archive} is damaged ({err}): delete it and run the command again") from None
    except OSError as err:
        if is_disk_full(err):
            raise disk_full(err, f"extracting {archive.name}", partial) from None
        raise
    partial.rename(target)


def partial_folder(target: Path) -> Path:
    """Where :func:`extract` builds the folder ``target`` (renamed to it when complete)."""
    return target.with_name(f".{target.name}.partial")


def reuse_file(name: str, target: Path, sources: Iterable[Manifest]) -> dict | None:
    """Put the file ``name`` (a path relative to a prepared folder) at ``target`` from the first
    folder of ``sources`` (their manifests) that has it and whose manifest, where it records it,
    agrees with it (size and SHA-256): a hard link, or a copy where the disk allows no link, made
    under a temporary name and renamed. Returns the record for ``target``'s manifest (``None``
    when no folder has it). A file a folder does not record is taken as it is there (images of a
    completed extraction are not recorded one by one); the verification that follows a
    preparation opens every image."""
    for manifest in sources:
        source = manifest.folder / name
        if not source.is_file():
            continue
        try:
            manifest.check(name)  # a file with no record is hashed and recorded (in memory only)
        except PrepareError:
            continue
        record = manifest.records[name]
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        part.unlink(missing_ok=True)
        try:
            try:
                os.link(source, part)
            except OSError as err:
                if is_disk_full(err):
                    raise
                shutil.copyfile(source, part)
        except OSError as err:
            part.unlink(missing_ok=True)
            if is_disk_full(err):
                raise disk_full(err, f"copying {source}", target.parent) from None
            raise
        if part.stat().st_size != record["size"]:
            part.unlink()
            continue
        part.rename(target)
        return {"copied_from": str(source), "size": record["size"], "sha256": record["sha256"],
                "downloaded": False}
    return None
