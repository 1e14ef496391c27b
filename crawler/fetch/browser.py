"""One Chromium for the whole crawl, driven by Playwright: found, launched, restarted, closed.

Playwright (the optional extra `crawler[browser]`) is imported only here and
only when a browser is first needed, so a crawl that never renders does not
load it. No browser is ever downloaded: we run the system's Chromium (Debian's
`chromium`), Playwright's own build where one is installed, or
`fetch.browser_path`; when none is there the error says what to install.

Nothing outlives the crawl: `close()` closes the browser and stops the
Playwright driver, each bounded in time, and if this process is killed the
driver sees its pipe close and takes the browser down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from crawler.errors import BrowserError, FetchError

log = logging.getLogger(__name__)

# Names a system Chromium or Chrome goes by, in the order they are looked for on the PATH.
EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
               "chrome")
# Quiet and headless: no calls home (without the first two Chromium tries to reach
# Google and waits for it), no GPU, no first-run UI, shared memory on disk.
ARGS = ("--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
        "--disable-extensions", "--disable-default-apps", "--no-default-browser-check")
CLOSE_TIMEOUT = 10.0  # seconds closing the browser, then the driver, may take
LAUNCH_TIMEOUT = 60.0

INSTALL_HINT = ("install Chromium (Debian/Ubuntu: apt-get install chromium) or set "
                "fetch.browser_path to a Chromium or Chrome executable")


def find_executable(path: str | None, playwright_own: str | None = None) -> str:
    """The Chromium to run: `path`, else Playwright's own build, else one on the PATH."""
    if path is not None:
        candidate = Path(path).expanduser()
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise BrowserError(f"fetch.browser_path: {path} is not an executable file; "
                               f"{INSTALL_HINT}")
        return str(candidate)
    if playwright_own and Path(playwright_own).is_file():
        return playwright_own
    for name in EXECUTABLES:
        if found := shutil.which(name):
            return found
    raise BrowserError(f"rendering needs a browser and none was found; {INSTALL_HINT}")


def launch_args() -> list[str]:
    """Chromium's flags; as root Chromium refuses to start without --no-sandbox."""
    args = list(ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


class Chromium:
    """The browser process: launched by `start()`, relaunched after a crash, closed once.

    Shared by every page the crawl renders; a test module can share one
    between crawls (the `Renderer` given a started Chromium does not close it).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.executable: str | None = None
        self.generation = 0  # one more each launch: pages of an older one are stale
        self._playwright: Any = None
        self._browser: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def start(self) -> None:
        """Launch the browser if it is not running; raises BrowserError when it cannot."""
        async with self._lock:
            if self._closed:
                raise FetchError("the browser is closed: the crawl is ending", kind="browser")
            if self.connected:
                return
            await self._drop()  # a crashed browser, or a driver that died with it
            try:
                await self._launch()
            except BaseException:
                await self._drop()
                raise

    async def browser(self) -> Any:
        """The running browser (a Playwright Browser), relaunched if it crashed."""
        if not self.connected:
            if self.generation:
                log.warning("the browser is gone (crashed or killed): starting it again")
            await self.start()
        return self._browser

    async def close(self) -> None:
        """Close the browser and stop the driver; never raises, never waits for ever."""
        async with self._lock:
            self._closed = True
            await self._drop()

    async def _launch(self) -> None:
        try:
            from playwright.async_api import async_playwright
        except ImportError:
            raise BrowserError("rendering needs Playwright: pip install 'crawler[browser]' "
                               f"(and a browser: {INSTALL_HINT})") from None
        self._playwright = await async_playwright().start()
        chromium = self._playwright.chromium
        self.executable = find_executable(self.path, _own_build(chromium))
        try:
            self._browser = await chromium.launch(
                executable_path=self.executable, headless=True, args=launch_args(),
                # The crawl decides when the browser closes: a Ctrl-C stops the
                # crawl gracefully, and the pages in flight finish first.
                handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                timeout=LAUNCH_TIMEOUT * 1000)
        except Exception as exc:
            raise BrowserError(f"could not start {self.executable}: "
                               f"{str(exc).splitlines()[0]}; {INSTALL_HINT}") from None
        self.generation += 1
        log.info("browser started: %s %s", self.executable, self._browser.version)

    async def _drop(self) -> None:
        """Close what is open, each step bounded; errors are logged (it may be dead)."""
        browser, self._browser = self._browser, None
        playwright, self._playwright = self._playwright, None
        for step in (browser and browser.close, playwright and playwright.stop):
            if step is None:
                continue
            try:
                await asyncio.wait_for(step(), CLOSE_TIMEOUT)
            except Exception as exc:  # a dead browser or driver: nothing left to close
                log.debug("closing the browser: %s", exc)
            except asyncio.CancelledError:
                # Cancelled mid-close: finish closing before giving up, or a
                # browser process would outlive the crawl.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(step()), CLOSE_TIMEOUT)
                raise


def _own_build(chromium: Any) -> str | None:
    """The path of Playwright's own Chromium, which may not be installed."""
    try:
        return str(chromium.executable_path)
    except Exception:  # no browsers downloaded for this Playwright
        return None
