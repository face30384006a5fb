"""The report in a real browser: headless Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs) loads report.html from disk; every image must decode, nothing may be
fetched from elsewhere, and a screenshot must show a page, not a blank."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from test_report import make_report, results  # noqa: F401  (the fixture)

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

# Reads, after load, what the page holds: each image's decoded width, and any element that
# would fetch from elsewhere. Appended to a copy of the page only; the report has no script.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth}));
  const fetching = document.querySelectorAll("link[href], script[src], iframe, object, embed").length;
  document.body.setAttribute("data-probe", JSON.stringify({images, fetching}));
});
</script>"""


def chromium(profile_dir, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", f"--user-data-dir={profile_dir}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def test_the_page_loads_and_renders_in_chromium(results, tmp_path):  # noqa: F811
    report = make_report(results, tmp_path) / "report.html"
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE + "\n</body>"))
    dom = chromium(tmp_path / "profile-1", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    found = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(probe["images"]) >= 6 and probe["fetching"] == 0
    assert all(image["complete"] and image["width"] > 0 for image in probe["images"]), probe

    shot = tmp_path / "shot.png"
    done = chromium(tmp_path / "profile-2", "--window-size=1280,2400", "--hide-scrollbars",
                    f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (2400, 1280)
    ink = (pixels.min(axis=2) < 200).mean()  # share of pixels that are not near-white
    assert 0.01 < ink < 0.9 and pixels.std() > 10
    highlight = np.all(np.abs(pixels - np.array([0xfd, 0xec, 0xea])) <= 3, axis=2).sum()
    assert highlight > 500  # the user's rows are highlighted on screen
