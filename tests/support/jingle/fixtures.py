"""pytest fixtures of the Jingle rig. tests/conftest.py imports them by name, e.g.
`from support.jingle.fixtures import jingle_asterisk, jingle_clients, jingle_net, prosody_server`
(with `# noqa: F401`). `jingle_asterisk` needs the lead's `sandbox_factory`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from callctl.sandbox import manager

from . import asterisk_conf, netns
from .client import JingleClient, JingleError
from .component import ComponentConf, add_component
from .profiles import PROFILES, Profile
from .prosody import Prosody

# Accounts on the test prosody: Asterisk's res_xmpp logs in as the first; clients use the rest.
ASTERISK_USER = "asterisk"
CLIENT_USERS = ("alice", "bob")

ClientFactory = Callable[..., Awaitable[JingleClient]]
RigAsterisk = tuple[Any, asterisk_conf.AsteriskJingle]  # (controller Sandbox, Jingle side)
AsteriskFactory = Callable[..., Awaitable[RigAsterisk]]
XMPP_LOGIN_TIMEOUT = 30.0


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"the Jingle rig needs `{tool}` on PATH")


@contextlib.contextmanager
def started_prosody(
    configure: Callable[[Prosody], None] | None = None,
) -> Iterator[tuple[Prosody, ComponentConf]]:
    """A prosody on 127.0.0.1 with accounts `asterisk`, `alice`, `bob` (password `pw-USER`)
    and the gateway's component host `gw.localhost` (support.jingle.component); `configure`
    may add to its config before it starts. Stopped and removed after the block."""
    _require("prosody")
    _require("prosodyctl")
    server = Prosody.prepare()
    try:
        for user in (ASTERISK_USER, *CLIENT_USERS):
            server.register(user, f"pw-{user}")
        conf = add_component(server)
        if configure is not None:
            configure(server)
        server.start()
        yield server, conf
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def rig_prosody() -> Iterator[tuple[Prosody, ComponentConf]]:
    """The session's prosody (`started_prosody`)."""
    with started_prosody() as started:
        yield started


@pytest.fixture(scope="session")
def prosody_server(rig_prosody: tuple[Prosody, ComponentConf]) -> Prosody:
    return rig_prosody[0]


@pytest.fixture(scope="session")
def gateway_component(rig_prosody: tuple[Prosody, ComponentConf]) -> ComponentConf:
    """Where callctl's gateway logs in to the rig's prosody as its component."""
    return rig_prosody[1]


@pytest.fixture
def jingle_net() -> Iterator[netns.RigNet]:
    """A fresh namespace + veth /30 (Asterisk side `host_addr`, client side `ns_addr`)."""
    _require("ip")
    with netns.rig_network() as net:
        yield net


@pytest.fixture
async def jingle_clients(
    prosody_server: Prosody, jingle_net: netns.RigNet
) -> AsyncIterator[ClientFactory]:
    """`await jingle_clients(user, profile="chromium", side="ns", resource=None, **options)`.

    `options` go to JingleClient (`host_candidates=2, nominate_host=1`: see RigConnection).

    side="ns": media sockets inside the namespace (the normal case, talking to Asterisk);
    side="host": media on the root end of the veth (a second client playing the far end).
    Every client logs in before it is returned and is disconnected after the test.
    """
    started: list[JingleClient] = []

    async def make(
        user: str,
        profile: str | Profile = "chromium",
        side: str = "ns",
        resource: str | None = None,
        **options: Any,
    ) -> JingleClient:
        factory = jingle_net.udp_socket if side == "ns" else _host_socket_factory(jingle_net)
        client = rig_client(
            prosody_server, user, profile, resource, factory, jingle_net.contains, **options
        )
        started.append(client)
        await client.start()
        return client

    yield make
    for client in started:
        await client.stop()


def rig_client(
    prosody_server: Prosody,
    user: str,
    profile: str | Profile,
    resource: str | None,
    socket_factory: Callable[[], socket.socket],
    candidate_allowed: Callable[[str], bool],
    **options: Any,
) -> JingleClient:
    """A JingleClient (not started yet) for `user` of the rig's prosody, resource `resource`
    or the profile's name, media sockets from `socket_factory`."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    account = prosody_server.accounts[user]
    return JingleClient(
        f"{account.jid}/{resource or prof.name}",
        account.password,
        server=("127.0.0.1", prosody_server.port),
        profile=prof,
        socket_factory=socket_factory,
        candidate_allowed=candidate_allowed,
        **options,
    )


def _host_socket_factory(net: netns.RigNet) -> Callable[[], socket.socket]:

    def factory() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((net.host_addr, 0))
        sock.setblocking(False)
        return sock

    return factory


@pytest.fixture
async def jingle_asterisk(
    sandbox_factory: Callable[..., Any],
    prosody_server: Prosody,
    jingle_net: netns.RigNet,
    jingle_clients: ClientFactory,
) -> AsyncIterator[AsteriskFactory]:
    """`await jingle_asterisk(build, answer_delay=1.0, app="Echo()", expect_frack=False,
    debug=5, routed=False, **sandbox_options)`.

    Starts a sandbox Asterisk whose res_xmpp logs in to the rig's prosody and whose chan_motif
    endpoint runs `asterisk_conf.dialplan(answer_delay, app)`; chan_motif is autoloaded when
    the build has patch 0070, else loaded once res_xmpp is connected (`load_motif`, stock's
    start-up race). Returns once Asterisk's XMPP resource answers disco#info, as (sandbox,
    AsteriskJingle). `expect_frack=True` tells the lead's sandbox_factory not to fail the
    test on FRACK lines (stock builds log them). `routed=True` puts the Motif endpoint in
    callctl's `from-jingle` context with the repo's dialplan (calls go to the Stasis app);
    `motif_options` adds lines to the endpoint's motif.conf section (e.g. "dtls = required\n");
    `sandbox_options` (e.g. `trunks=[...]`) go to the sandbox.
    """
    watcher: JingleClient | None = None

    async def make(
        build: Any,
        *,
        answer_delay: float = 1.0,
        app: str = "Echo()",
        expect_frack: bool = False,
        debug: int = 5,
        routed: bool = False,
        motif_options: str = "",
        **sandbox_options: Any,
    ) -> RigAsterisk:
        nonlocal watcher
        files, ast = rig_configs(
            build,
            jingle_net,
            prosody_server,
            answer_delay=answer_delay,
            app=app,
            routed=routed,
            motif_options=motif_options,
        )
        # manager.up() blocks until Asterisk is ready; keep the event loop (and XMPP) alive.
        sandbox = await asyncio.to_thread(
            sandbox_factory,
            build=build,
            configs=files,
            jingle=True,
            expect_frack=expect_frack,
            **sandbox_options,
        )
        # chan_motif's and res_rtp_asterisk's ICE lines are ast_debug(): the proofs need them.
        if debug:
            await asyncio.to_thread(sandbox.rx, f"core set debug {debug}")
        if not motif_race_fixed(build):
            await load_motif(sandbox, XMPP_LOGIN_TIMEOUT)
        if watcher is None:
            watcher = await jingle_clients("bob", "chromium", resource="rig-watcher")
        await wait_online(watcher, ast.jid, XMPP_LOGIN_TIMEOUT)
        return sandbox, ast

    yield make


def rig_configs(
    build: Any, net: netns.RigNet, prosody: Prosody, **options: Any
) -> tuple[dict[str, str], asterisk_conf.AsteriskJingle]:
    """The rig's Asterisk configs (`asterisk_conf.configs(net, prosody, **options)`) for
    `build`: chan_motif autoloaded when the build has patch 0070, else left to `load_motif`."""
    files, ast = asterisk_conf.configs(net, prosody, **options)
    if motif_race_fixed(build):
        files["modules.conf"] = files["modules.conf"].replace("noload = chan_motif.so\n", "")
    return files, ast


@contextlib.asynccontextmanager
async def rig_sandbox(
    build: Any,
    net: netns.RigNet,
    prosody: Prosody,
    name: str,
    *,
    extensions: str | None = None,
    debug: int = 0,
    **options: Any,
) -> AsyncIterator[RigAsterisk]:
    """Outside pytest (bench/): a sandbox Asterisk of `build` on the rig network `net`, logged
    in to `prosody` (accounts as `started_prosody` makes them), ready when its XMPP resource
    answers; `extensions` replaces the rig's extensions.conf. Stopped after the block."""
    files, ast = rig_configs(build, net, prosody, **options)
    if extensions is not None:
        files["extensions.conf"] = extensions
    opts = manager.SandboxOptions(name=name, configs=files, jingle=True)
    sandbox = await asyncio.to_thread(manager.up, build, opts)
    watcher = rig_client(prosody, "bob", "plain", f"{name}-watcher", net.udp_socket, net.contains)
    try:
        if debug:
            await asyncio.to_thread(sandbox.rx, f"core set debug {debug}")
        if not motif_race_fixed(build):
            await load_motif(sandbox, XMPP_LOGIN_TIMEOUT)
        await watcher.start()
        await wait_online(watcher, ast.jid, XMPP_LOGIN_TIMEOUT)
        yield sandbox, ast
    finally:
        await watcher.stop()
        sandbox.stop()


def motif_race_fixed(build: Any) -> bool:
    """Whether `build` carries patch 0070 (res_xmpp creates the iks filter with the client),
    so chan_motif can be autoloaded; builds without it need `load_motif`."""
    patches = build.manifest.get("patches", {}).get("asterisk", [])
    return any(p["name"].startswith("0070-") for p in patches)


async def load_motif(sandbox: Any, timeout: float) -> None:
    """Load chan_motif once res_xmpp's client is connected (asterisk_conf.MOTIF_RACE)."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(sandbox.rx, "xmpp show connections")
        if f"/{asterisk_conf.RESOURCE}" in status and "Connected" in status:
            break
        await asyncio.sleep(0.3)
    else:
        raise JingleError(f"res_xmpp not connected within {timeout} s:\n{status}")
    await asyncio.to_thread(sandbox.rx, "module load chan_motif.so")
    shown = await asyncio.to_thread(sandbox.rx, "module show like chan_motif")
    if "Running" not in shown:
        raise JingleError(f"chan_motif did not load:\n{shown}")


async def wait_online(client: JingleClient, full_jid: str, timeout: float) -> None:
    """Probe `full_jid` until it answers (res_xmpp logged in), bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await client.is_online(full_jid, timeout=2.0):
            return
        await asyncio.sleep(0.5)
    raise JingleError(f"{full_jid} did not come online within {timeout} s")
