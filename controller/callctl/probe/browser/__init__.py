"""The real-browser client: a StanzaJS page (page/rig.js) in headless Chromium or Firefox,
driven by puppeteer-core (driver.mjs). `callctl probe --client chromium` and the test rigs
(tests/support/webrtc) use this one copy; its npm packages are pinned by package-lock.json and
installed outside the package (modules.py)."""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
DRIVER = ASSETS / "driver.mjs"
