"""The rig's real WebRTC client is the probe's (callctl.probe.browser.client): one page, one
driver, one npm lock, in the package. The rig's modules and tests import it from here."""

from callctl.probe.browser.client import BROWSERS, BrowserClient, BrowserError, check_installed

__all__ = ["BROWSERS", "BrowserClient", "BrowserError", "check_installed"]
