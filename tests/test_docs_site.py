"""The documentation site (mkdocs.yml, scripts/build_docs.py): built in strict mode (a broken
link, a missing anchor or a docstring that does not render fails it), with every notebook
executed (once per test run, the copies test_notebooks checks: tests/notebook_runner.py) and an API
reference page per public module; then the notebook pages are opened in
headless Chromium, which must decode every plot, and two pages are photographed into
build/screens for a person to look at."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # mkdocs's own dependency
from notebook_runner import NOTEBOOKS as NOTEBOOK_PATHS
from notebook_runner import EXECUTED, executed, kernel_specs
from PIL import Image  # matplotlib's

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "build" / "site"
SCREENS = REPO / "build" / "screens"
NOTEBOOKS = [p.stem for p in NOTEBOOK_PATHS]
RENDER_CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].filter(i => i.src.startsWith("data:image/png"));
  const decoded = images.filter(i => i.complete && i.naturalWidth > 0);
  document.body.setAttribute("data-render-check", decoded.length + "/" + images.length);
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is needed to look at the built pages: apt-get install chromium (scripts/setup.sh does)"
    return path


def _headless(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per test run: under pytest -n the workers that need it take a lock,
    and the first builds it while the others wait and then reuse it (one build folder)."""
    import fcntl
    import os
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    SITE.parent.mkdir(parents=True, exist_ok=True)
    marker = SITE.parent / "site.built-by"
    with open(SITE.parent / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and marker.read_text() == run and SITE.is_dir()):
            # The notebooks executed once for the run, shared with test_notebooks.
            specs = kernel_specs(tmp_path_factory.mktemp("kernels"))
            for notebook in NOTEBOOK_PATHS:
                executed(notebook, specs)
            proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_docs.py"), "--executed", str(EXECUTED)],
                                  capture_output=True, text=True, timeout=1200)
            assert proc.returncode == 0, (proc.stdout[-4000:] + proc.stderr[-4000:])
            marker.write_text(run)
    return SITE


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_every_page_of_the_navigation_is_built(site):
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    pages = _nav_pages(config["nav"])
    assert {f"{p}.md" for p in ("start-here", "cli", "development")} <= set(pages)
    assert {f"notebooks/{n}.ipynb" for n in NOTEBOOKS} <= set(pages), "a notebook is missing from the site"
    for page in pages:
        built = site / re.sub(r"\.(md|ipynb)$", ".html", page)
        assert built.is_file() and built.stat().st_size > 2000, page
    # the API reference is generated from the docstrings: the classes are there with their docs
    sizing = (site / "reference" / "sizing.html").read_text(encoding="utf-8")
    assert "Recommendation" in sizing and "JSON-ready" in sizing


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_notebook_page_shows_its_plots(site, notebook):
    page = site / "notebooks" / f"{notebook}.html"
    html = page.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert images, f"{notebook}: no plot on the page (was the notebook executed?)"
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.width >= 300 and image.height >= 150, image.size
            lo, hi = image.convert("L").getextrema()
            assert hi - lo > 100, "a blank figure"
    # Chromium opens the page and decodes every image.
    check = page.with_name(f"{notebook}.render-check.html")
    check.write_text(html.replace("</body>", RENDER_CHECK + "</body>"), encoding="utf-8")
    proc = _headless("--virtual-time-budget=10000", "--dump-dom", check.as_uri())
    check.unlink()
    found = re.search(r'data-render-check="(\d+)/(\d+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    assert found.group(1) == found.group(2) == str(len(images)), found.group(0)


@pytest.mark.parametrize("page", ["start-here", "notebooks/02-optimizer", "schemas"])
def test_screenshots_of_two_pages(site, page):
    SCREENS.mkdir(parents=True, exist_ok=True)
    shot = SCREENS / f"{page.replace('/', '-')}.png"
    shot.unlink(missing_ok=True)
    proc = _headless("--window-size=1280,2400", "--virtual-time-budget=10000", f"--screenshot={shot}",
                     (site / f"{page}.html").as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        lo, hi = image.convert("L").getextrema()
        assert hi - lo > 100, "a blank page"
