"""The documentation site: built with warnings as errors, then opened in headless Chromium.

One build (module fixture, ~50 s of CPU on 2 cores: most of it the gallery's plot_ examples)
into pytest's tmp_path; then the rendered DOM of the index, an API page and a gallery
page is checked, and every relative link of the site (and of those three DOMs) must
point to an existing file and, with ``#anchor``, to an existing id in it.

Chromium is Debian's ``chromium`` package. Under CI (``CI=true``) a missing browser
fails the test; elsewhere the browser checks are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from eegfm_sklearn.utils._data_dir import get_data_dir

from conftest import require_data

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

API_PAGE = "generated/api/eegfm_sklearn.FoundationTransformer.html"
GALLERY_PAGE = "auto_examples/plot_montage_adaptation.html"
# A sentence of FoundationTransformer's docstring: the API page is generated from it.
DOCSTRING_SENTENCE = "Embed EEG windows with a frozen foundation-model encoder."


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site with ``-W`` into a temporary folder; return the HTML folder."""
    require_data("eegmat", "Subject00_1.edf")  # the gallery example reads it
    out = tmp_path_factory.mktemp("docs")
    env = {**os.environ, "EEGFM_DATA_DIR": str(get_data_dir().resolve()), "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "Agg"}
    # run_stale_examples: the gallery runs every example again, even one a previous build left in docs/
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d", str(out / "doctrees"),
           "-D", "sphinx_gallery_conf.run_stale_examples=True",
           str(ROOT / "docs"), str(out / "html")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return out / "html"


def chromium():
    """Path of the Chromium binary; fails under CI when it is missing, else skips."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI must run the browser checks.")
        pytest.skip(message)
    return path


def dump_dom(page: Path, tmp_path) -> str:
    """The DOM of ``page`` after Chromium loaded it and ran its scripts."""
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "<body" in proc.stdout, f"chromium rendered nothing for {page}:\n{proc.stderr[-3000:]}"
    return proc.stdout


class Page(HTMLParser):
    """Ids, links, images, title and text of one HTML document."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.ids, self.hrefs, self.imgs, self.title, self.text = set(), [], [], "", []
        self._in_title = False
        self.feed(text)
        self.text = " ".join(" ".join(self.text).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.imgs.append(attrs["src"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)


def broken_links(page: Path, parsed: Page, html_root: Path, cache: dict) -> list[str]:
    """Relative links of ``page`` whose file or #anchor does not exist."""
    broken = []
    for href in parsed.hrefs:
        parts = urlsplit(href)
        if parts.scheme or href.startswith("//"):
            continue  # external (http, mailto...) or absolute: not ours to check offline
        target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target})")
            continue
        if parts.fragment and target.suffix == ".html":
            if target not in cache:
                cache[target] = Page(target.read_text(encoding="utf-8")).ids
            if unquote(parts.fragment) not in cache[target]:
                broken.append(f"{href} (no id {parts.fragment!r} in {target.relative_to(html_root)})")
    return broken


def test_every_internal_link_of_the_site_resolves(site):
    cache, broken = {}, {}
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 40  # guide, model pages, API pages, gallery
    for page in pages:
        bad = broken_links(page, Page(page.read_text(encoding="utf-8")), site, cache)
        if bad:
            broken[str(page.relative_to(site))] = bad
    assert not broken, broken


def test_index_renders_with_its_table_of_contents(site, tmp_path):
    page = site / "index.html"
    dom = Page(dump_dom(page, tmp_path))
    assert dom.title.startswith("eegfm_sklearn")
    assert "EEG foundation models as scikit-learn estimators" in dom.text
    for target in ("guide/index.html", "api.html", "generated/models/index.html", "auto_examples/index.html"):
        assert any(urlsplit(h).path == target for h in dom.hrefs), target
    assert not broken_links(page, dom, site, {})


def test_api_page_renders_the_docstring(site, tmp_path):
    page = site / API_PAGE
    dom = Page(dump_dom(page, tmp_path))
    assert "FoundationTransformer" in dom.title
    assert DOCSTRING_SENTENCE in dom.text
    # numpydoc turned the sections into structure: the params and attributes are listed
    assert "Parameters" in dom.text and "Attributes" in dom.text
    assert "window_seconds" in dom.text and "channel_report_" in dom.text
    assert not broken_links(page, dom, site, {})


def test_gallery_page_renders_its_figure_and_output(site, tmp_path):
    page = site / GALLERY_PAGE
    dom = Page(dump_dom(page, tmp_path))
    assert "montage" in dom.title.lower()
    figures = [src for src in dom.imgs if "sphx_glr_plot_montage_adaptation_001" in src]
    assert figures, dom.imgs
    image = (page.parent / unquote(urlsplit(figures[0]).path)).resolve()
    assert image.is_file() and image.stat().st_size > 10_000  # a real PNG, not a placeholder
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the example ran: its printed channel report is on the page
    assert "interpolated" in dom.text and "derived" in dom.text
    assert not broken_links(page, dom, site, {})


def test_one_page_per_model_card(site):
    from eegfm_sklearn import get_model_card, list_models

    for name in list_models():
        page = site / "generated" / "models" / f"{name}.html"
        assert page.is_file(), name
        text = Page(page.read_text(encoding="utf-8")).text
        card = get_model_card(name)
        assert f"{card.sfreq:g} Hz" in text and card.scaling.describe() in text, name
        for ckpt in card.checkpoints:
            assert ckpt.name in text, (name, ckpt.name)


@pytest.mark.parametrize("script", sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py")))
def test_every_gallery_script_ran_and_drew_a_figure(site, script):
    """The build runs every ``examples/plot_*.py`` (an error aborts it); each must leave a figure."""
    page = site / "auto_examples" / f"{script}.html"
    assert page.is_file(), script
    images = sorted((site / "_images").glob(f"sphx_glr_{script}_*.png"))
    assert images and all(p.stat().st_size > 5_000 for p in images), script


# Written into a copy of a page: on load, each article table's rendered width and its container's.
_MEASURE_TABLES = """<script>window.addEventListener('load', () => {
  const widths = [...document.querySelectorAll('.bd-article table')].map(
    t => [t.scrollWidth, t.parentElement.clientWidth]);
  document.body.setAttribute('data-table-widths', JSON.stringify(widths)); });</script>"""


def table_widths(page: Path, tmp_path, width=1400) -> list:
    """[table width, container width] (CSS px) of each article table, rendered at ``width`` px."""
    import json
    import re

    probe = page.resolve().with_name(f"_probe_{page.name}")  # beside the page: its stylesheets resolve
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE_TABLES + "</body>"),
                     encoding="utf-8")
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--window-size={width},900", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom",
           probe.as_uri()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    found = re.search(r'data-table-widths="([^"]*)"', proc.stdout)
    assert found, f"the page {page.name} did not report its tables:\n{proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


def test_card_pages_checkpoint_tables_fit_at_1400_px(site, tmp_path):
    """Long file names, repository ids and URLs wrap (docs/_static/tables.css): no horizontal scrolling."""
    from eegfm_sklearn import get_model_card, list_models

    measured = 0
    for name in list_models():
        if not get_model_card(name).checkpoints:
            continue
        widths = table_widths(site / "generated" / "models" / f"{name}.html", tmp_path)
        assert widths, name
        wide = [w for w in widths if w[0] > w[1]]
        assert not wide, f"{name}: tables wider than the article at 1400 px (table, container px): {wide}"
        measured += 1
    assert measured >= 10
