"""Plain URL downloads for :mod:`svl_lib.data.prepare` (COCO's images and archives): each file
goes to a temporary name beside its target and is renamed when complete; a cut-off transfer is
resumed with an HTTP ``Range``, on the next try or the next run; failures are one
:class:`~svl_lib.data.hub.PrepareError` each, and a full disk stops everything.
"""
from __future__ import annotations

import http.client
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .hub import PERMANENT, DiskFullError, PrepareError, disk_full, is_disk_full

ATTEMPTS = 5  # tries per URL before giving up
RETRY_WAIT = 2.0  # seconds before the second try; the n-th waits n - 1 times as long
TIMEOUT = 60  # seconds without an answer from a server before a try fails


def fetch_url(url: str, path: Path, attempts: int = ATTEMPTS) -> bool:
    """Download ``url`` to ``path`` unless it is there; ``True`` when this call downloaded it.

    The bytes go to ``.<name>.part`` beside ``path``, renamed to ``path`` when complete; a cut-off
    transfer is resumed from there (HTTP ``Range``), on the next try or the next run. Up to
    ``attempts`` tries, waiting longer after each; an answer such as 404 and a full disk
    (:class:`DiskFullError`) fail at once."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    for attempt in range(1, attempts + 1):
        try:
            _fetch_once(url, part)
            break
        except (OSError, http.client.HTTPException) as err:
            if is_disk_full(err):
                raise disk_full(err, f"downloading {url}", path.parent) from None
            if attempt == attempts or (isinstance(err, urllib.error.HTTPError) and err.code in PERMANENT):
                raise PrepareError(f"downloading {url} failed after {attempt} tries: {err}") from err
            time.sleep(RETRY_WAIT * attempt)
    if path.exists():  # appeared meanwhile: keep it, drop ours
        part.unlink()
        return False
    part.rename(path)
    return True


def _fetch_once(url: str, part: Path) -> None:
    """One try: append the rest of ``url`` to ``part`` (or start it over when the server ignores
    the range); an error when the transfer ends short."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "svl_lib", **({"Range": f"bytes={start}-"} if start else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        if err.code == 416:  # nothing after ``start``: begin again
            part.unlink()
        raise
    with response:
        if response.status != 206:
            start = 0
        length = response.headers.get("Content-Length")
        with open(part, "ab" if start else "wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
            size = file.tell()
    if length is not None and size != start + int(length):
        raise OSError(f"transfer cut off at {size:,} of {start + int(length):,} bytes")


def fetch_urls(jobs: Iterable[tuple[str, Path]], workers: int = 16,
               done: Callable[[Path], None] | None = None) -> list[str]:
    """Fetch ``(url, path)`` pairs with :func:`fetch_url` in ``workers`` threads; ``done(path)``
    is called (in the caller's thread) for each file downloaded. Returns one line per failure; a
    full disk stops them all (:class:`DiskFullError`)."""
    failures: list[str] = []
    pool = ThreadPoolExecutor(workers)
    try:
        futures = {pool.submit(fetch_url, url, path): path for url, path in jobs}
        for n, (future, path) in enumerate(futures.items(), 1):
            try:
                if future.result() and done is not None:
                    done(path)
            except DiskFullError:
                raise
            except PrepareError as err:
                failures.append(str(err))
            if n % 500 == 0 or n == len(futures):
                print(f"    {n:,} / {len(futures):,} images")
    finally:  # on an interruption, drop the queued downloads instead of waiting for them
        pool.shutdown(cancel_futures=True)
    return failures
