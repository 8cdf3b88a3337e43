"""Start-up crash of chan_motif on res_xmpp's iks filter (patch 0070, docs/asterisk-patches.md).

Stock res_xmpp creates a client's iks filter on the client's own thread, in
xmpp_client_reconnect(), while chan_motif (loaded next, on the main thread) adds its Jingle
rule to that filter as soon as it finds the client. When the main thread wins, the filter is
NULL and Asterisk dies in iks_filter_add_rule() (dmesg: `segfault at 0 ... libiksemel`).
Whether the XMPP server is reachable plays no part (the filter is created before the
connection is attempted); only thread scheduling decides, about 1 start in 12 on the rig.

To make it deterministic, a preloaded shim (`SHIM_C`) sleeps `SHIM_DELAY` seconds in
iks_filter_new() when it is called off the main thread: the client's thread is simply late,
as a busy machine makes it now and then. Stock: every start dies. Patched: the filter is
created with the client, on the main thread (the shim says so in the console log), so the
delay never applies; Asterisk starts with chan_motif autoloaded while the XMPP server is not
reachable yet, logs in once it is, and a Jingle call through chan_motif echoes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from callctl.errors import AsteriskUnavailable
from callctl.sandbox.state import sandbox_root
from support.jingle import asterisk_conf
from support.jingle.echo import echo
from support.jingle.fixtures import ClientFactory, wait_online
from support.jingle.netns import RigNet
from support.jingle.prosody import Prosody

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

SHIM_DELAY = 3  # s; chan_motif is loaded a few ms after res_xmpp on this machine
STOCK_STARTS = 3  # each one must die: the shim makes the race deterministic
LOGIN_TIMEOUT = 30.0
ECHO_PACKETS = 100

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef void *(*filter_new_fn)(void);

void *iks_filter_new(void)
{
	filter_new_fn real = (filter_new_fn) dlsym(RTLD_NEXT, "iks_filter_new");
	struct timespec delay = { .tv_sec = %(delay)d, .tv_nsec = 0 };

	if (syscall(SYS_gettid) == getpid()) {
		fprintf(stderr, "motif-shim: iks_filter_new on the main thread\n");
	} else {
		fprintf(stderr, "motif-shim: iks_filter_new off the main thread, delayed %(delay)d s\n");
		nanosleep(&delay, NULL);
	}
	return real();
}
"""


@pytest.fixture(scope="module")
def late_filter_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared object that delays iks_filter_new() on every thread but the main one."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("the start-up test needs a C compiler for its LD_PRELOAD shim")
    folder = tmp_path_factory.mktemp("motif-shim")
    source = folder / "shim.c"
    source.write_text(SHIM_C % {"delay": SHIM_DELAY})
    lib = folder / "shim.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(lib), str(source), "-ldl"],
        check=True,
        capture_output=True,
    )
    return lib


def motif_autoloaded(files: dict[str, str], port: int | None = None) -> dict[str, str]:
    """The rig's configs with chan_motif loaded at start-up (and res_xmpp sent to `port`)."""
    out = dict(files)
    out["modules.conf"] = out["modules.conf"].replace("noload = chan_motif.so\n", "")
    assert "chan_motif" not in out["modules.conf"]
    if port is not None:
        out["xmpp.conf"], n = re.subn(r"(?m)^port = \d+$", f"port = {port}", out["xmpp.conf"])
        assert n == 1
    return out


def segfaults(pid: int) -> list[str]:
    """The kernel's segfault lines for asterisk[pid] (dmesg)."""
    text = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    return [ln for ln in text.splitlines() if f"asterisk[{pid}]: segfault" in ln]


def console_log(name: str) -> str:
    path = sandbox_root(name) / "log" / "console.log"
    return path.read_text(errors="replace") if path.is_file() else ""


def test_stock_dies_at_start_up_when_the_client_thread_is_late(
    asterisk_build_stock: Any,
    sandbox_factory: Any,
    prosody_server: Prosody,
    jingle_net: RigNet,
    late_filter_shim: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files, _ = asterisk_conf.configs(jingle_net, prosody_server)
    files = motif_autoloaded(files)  # prosody is up and reachable: it makes no difference
    monkeypatch.setenv("LD_PRELOAD", str(late_filter_shim))
    for attempt in range(STOCK_STARTS):
        name = f"motif-crash-{attempt}"
        try:
            with pytest.raises(AsteriskUnavailable, match="exited during start-up"):
                sandbox_factory(
                    build=asterisk_build_stock,
                    configs=files,
                    name=name,
                    jingle=True,
                    expect_frack=True,
                )
            # Stock asks for the filter on the client's thread only (which the shim holds
            # back, if it got that far before the main thread crashed).
            console = console_log(name)
            assert "iks_filter_new on the main thread" not in console, console
            pid = int((sandbox_root(name) / "run" / "asterisk.pid").read_text())
            crashes = segfaults(pid)
            assert crashes, f"start {attempt}: no segfault in dmesg for asterisk[{pid}]"
            assert "libiksemel" in crashes[0], crashes
        finally:
            shutil.rmtree(sandbox_root(name), ignore_errors=True)


@contextlib.asynccontextmanager
async def tcp_forwarder(port: int, target: tuple[str, int]) -> AsyncIterator[None]:
    """Forward 127.0.0.1:`port` to `target` while the context is open."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:  # also on cancellation
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_text(read: Callable[[], str], needle: str, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    text = await asyncio.to_thread(read)
    while needle not in text and loop.time() < deadline:
        await asyncio.sleep(0.3)
        text = await asyncio.to_thread(read)
    return text


async def test_patched_starts_unreachable_server_then_takes_a_jingle_call(
    asterisk_build: Any,
    sandbox_factory: Any,
    prosody_server: Prosody,
    jingle_net: RigNet,
    jingle_clients: ClientFactory,
    late_filter_shim: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = unused_port()  # nothing listens there yet: res_xmpp's connects are refused
    files, ast = asterisk_conf.configs(jingle_net, prosody_server, answer_delay=0.5)
    files = motif_autoloaded(files, port)
    name = "motif-start"
    monkeypatch.setenv("LD_PRELOAD", str(late_filter_shim))
    sandbox = await asyncio.to_thread(
        sandbox_factory, build=asterisk_build, configs=files, name=name, jingle=True
    )
    monkeypatch.delenv("LD_PRELOAD")

    console = console_log(name)
    assert "iks_filter_new on the main thread" in console, console
    assert "off the main thread" not in console, console
    shown = await asyncio.to_thread(sandbox.rx, "module show like chan_motif")
    assert "Running" in shown, shown
    full = sandbox.log_dir / "full"
    log = await wait_for_text(
        lambda: full.read_text(errors="replace") if full.is_file() else "",
        "No XMPP connection available",
        10.0,
    )
    assert "No XMPP connection available" in log, "res_xmpp reached a server it should not"

    async with tcp_forwarder(port, ("127.0.0.1", prosody_server.port)):
        status = await wait_for_text(
            lambda: sandbox.rx("xmpp show connections"), "Connected", LOGIN_TIMEOUT
        )
        assert "Connected" in status, status
        alice = await jingle_clients("alice", "plain")
        await wait_online(alice, ast.jid, LOGIN_TIMEOUT)
        call = await alice.call(ast.jid)
        await asyncio.wait_for(call.accepted.wait(), 15)
        await echo(call, ECHO_PACKETS)
        await call.hangup()
