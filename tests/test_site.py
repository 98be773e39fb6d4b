"""The course website (`make site`) in a real browser.

The site is built once from the committed notebooks (no execution) and served from 127.0.0.1;
headless Chromium opens every page. Each notebook page must show every figure of the notebook's
outputs (loaded: ``complete`` and ``naturalWidth > 0``) and every table (pandas tables of the
outputs, Markdown tables of the text), and every link within the site must answer HTTP 200, its
``#fragment`` naming an element of the target page. Images from other hosts (the Colab badges) are
not loaded: the test machine is offline. The workshop's slides (docs/slides/, written into the
site's ``slides/`` by docs/conf.py) are linked from the instructor notes, and a deck opens with its
title and its figures; reveal.js itself comes from a CDN and is not loaded here.

Needs the ``site`` extra and Chromium with its driver (Debian: ``apt-get install chromium
chromium-driver``); skipped without them.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

pytestmark = pytest.mark.site
pytest.importorskip("myst_nb", reason="the site extra is not installed: pip install -e '.[site]'")
pytest.importorskip("selenium", reason="the site extra is not installed: pip install -e '.[site]'")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("no Chromium or chromedriver on PATH (Debian: apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402  (after the skips above)
from selenium.webdriver.chrome.service import Service  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
DECKS = sorted((ROOT / "docs" / "slides").glob("*.ipynb"))
MARKDOWN_TABLE = re.compile(r"^\|?\s*:?-{3,}:?\s*\|", re.MULTILINE)   # a table's separator row
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\((?!https?:)[^)]+\)")      # a local image
ADDRESSES = ("return Array.from(document.querySelectorAll('a[href], link[href], img[src], script[src]'))"
             ".map(e => e.href || e.src).filter(u => typeof u === 'string');")   # absolute URLs


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> subprocess.CompletedProcess:
    """`make site`'s Sphinx command, into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", "docs", "-d", str(out / "doctrees"),
               "--keep-going", "-q", ".", str(out / "html")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    result.outdir = out / "html"
    return result


@pytest.fixture(scope="module")
def site(build) -> str:
    """The built site served over HTTP from 127.0.0.1; its base URL."""
    if build.returncode:
        pytest.fail(f"the site did not build:\n{build.stderr}")
    handler = functools.partial(Quiet, directory=str(build.outdir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1024"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> None:
    """Load ``url`` and scroll every image into view, so that none waits for lazy loading."""
    browser.get(url)
    browser.execute_script("for (const i of document.images) i.scrollIntoView();")
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null))).then(done);")


def local_images(browser, site: str) -> list[dict]:
    images = browser.execute_script(
        "return Array.from(document.images).map(i => ({src: i.src, complete: i.complete,"
        " width: i.naturalWidth}));")
    return [i for i in images if i["src"].startswith(site)]


def notebook_counts(path: Path) -> dict[str, int]:
    """Figures (image outputs and local Markdown images), pandas tables and Markdown tables."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    outputs = [o.get("data", {}) for c in cells for o in c.get("outputs", [])]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {"figures": sum(any(k.startswith("image/") for k in d) for d in outputs)
            + len(MARKDOWN_IMAGE.findall(text)),
            "dataframes": sum("<table" in "".join(d.get("text/html", "")) for d in outputs),
            "markdown tables": len(MARKDOWN_TABLE.findall(text))}


def test_the_site_builds_without_warnings(build):
    assert build.returncode == 0 and not build.stderr.strip(), build.stderr
    assert (build.outdir / ".nojekyll").is_file()   # GitHub Pages then serves _static/ and _images/


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_page_shows_its_figures_and_tables(browser, site, notebook):
    expected = notebook_counts(notebook)
    open_page(browser, f"{site}notebooks/{notebook.stem}.html")
    images = local_images(browser, site)
    assert len(images) >= expected["figures"] > 0
    assert [i["src"] for i in images if not (i["complete"] and i["width"] > 0)] == []
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('main table')).map(t => ({"
        " dataframe: t.classList.contains('dataframe'), rows: t.querySelectorAll('tr').length,"
        " shown: t.closest('details') !== null || t.getBoundingClientRect().height > 0}));")
    frames = [t for t in tables if t["dataframe"]]
    assert len(frames) >= expected["dataframes"]
    assert len(tables) - len(frames) >= expected["markdown tables"]
    assert all(t["rows"] > 1 and t["shown"] for t in tables)


def test_the_front_page_is_the_readme_with_its_figures_and_notebook_links(browser, site):
    open_page(browser, site)   # index.html sends the browser on to the README
    assert browser.current_url == f"{site}README.html"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = local_images(browser, site)
    assert len(images) >= len(MARKDOWN_IMAGE.findall(readme)) > 0
    assert all(i["complete"] and i["width"] > 0 for i in images), images
    links = set(browser.execute_script("return Array.from(document.links).map(a => a.href);"))
    for notebook in NOTEBOOKS:
        assert f"{site}notebooks/{notebook.stem}.html" in links
    assert f"{site}notebooks/GLOSSARY.html" in links


def test_the_instructor_notes_link_every_deck_and_a_deck_opens_with_its_title(browser, site):
    open_page(browser, f"{site}docs/instructor.html")
    links = set(browser.execute_script("return Array.from(document.links).map(a => a.href);"))
    assert DECKS and [d.stem for d in DECKS if f"{site}slides/{d.stem}.slides.html" not in links] == []
    deck = json.loads(DECKS[0].read_text(encoding="utf-8"))
    open_page(browser, f"{site}slides/{DECKS[0].stem}.slides.html")
    assert browser.title == f"{deck['metadata']['title']} slides"
    heading = "".join(deck["cells"][0]["source"]).splitlines()[0].lstrip("# ")
    assert heading in browser.execute_script("return document.querySelector('h1').textContent;")
    images = browser.execute_script(   # the figures, embedded in the page
        "return Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth}));")
    figures = sum("svl_figure" in c["metadata"] for c in deck["cells"])
    assert len(images) >= figures > 0 and all(i["complete"] and i["width"] > 0 for i in images)


def test_every_internal_link_resolves(browser, site):
    """Every page reachable from the front page; every link, image, stylesheet and script of the
    site answers 200, and a link's fragment names an element there. Other hosts are not asked."""
    pages, queue, checked, broken = set(), [f"{site}README.html"], {}, []
    while queue:
        page = queue.pop()
        if page in pages:
            continue
        pages.add(page)
        browser.get(page)
        for href in browser.execute_script(ADDRESSES):
            if not href.startswith(site):
                continue
            url, fragment = urldefrag(href)
            if url not in checked:
                checked[url] = fetch(url)
            status, ids = checked[url]
            if status != 200 or (fragment and fragment not in ids):
                broken.append(f"{page} -> {href} ({status})")
            elif urlsplit(url).path.endswith(".html"):
                queue.append(url)
    assert not broken, "\n".join(sorted(set(broken)))
    assert len(pages) >= len(NOTEBOOKS) + 3   # README, glossary, workshop plan


def fetch(url: str) -> tuple[int, set[str]]:
    """The HTTP status of ``url`` and, for HTML, the ids of its elements."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            kind = response.headers.get_content_type()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, set()
    ids = IdCollector.of(body.decode("utf-8", "replace")) if kind == "text/html" else set()
    return status, ids


class IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        self.ids.update(value for name, value in attrs if name in ("id", "name") and value)

    @classmethod
    def of(cls, html: str) -> set[str]:
        parser = cls()
        parser.feed(html)
        return parser.ids
