"""Asterisk config texts for the Jingle rig, handed to `sandbox_factory(configs=...)`.

res_xmpp logs in to the rig's prosody as `asterisk@DOMAIN/asterisk`; chan_motif serves the
endpoint `jingle` on that connection; RTP offers ICE host candidates only from the rig's /30
(so Asterisk never advertises the machine's real interfaces to the test client).
"""

from __future__ import annotations

from dataclasses import dataclass

from .netns import RigNet
from .prosody import Prosody

ENDPOINT = "jingle"  # motif.conf section; also the name used in Motif/ dial strings
CONNECTION = "rig"  # xmpp.conf client section
RESOURCE = "asterisk"
CONTEXT = "jingle-in"
ROUTED_CONTEXT = "from-jingle"  # dialplan/callctl.conf: chan_motif calls to the Stasis app


def dialplan(answer_delay: float | str = 0.0, app: str = "Echo()") -> str:
    """The context for calls a client places. chan_motif runs extension `s` (no extension is
    named after the endpoint). `answer_delay` > 0 rings first, like a phone picked up later;
    0 answers at once, which is what exposes the unread-offer defect (issue 8). A str is a
    dialplan expression for the ring, e.g. "${GLOBAL(RING)}" set per call (the NAT tests)."""
    # Answer() at priority 1 when answering at once: the smaller the head start of the
    # XMPP thread, the more often stock chan_motif answers before it read the offer.
    wait = answer_delay if isinstance(answer_delay, str) else f"{answer_delay:g}"
    rings = isinstance(answer_delay, str) or answer_delay > 0
    steps = ["Ringing()", f"Wait({wait})", "Answer()"] if rings else ["Answer()"]
    steps += ["NoOp(jingle rig: ${CALLERID(all)})", app, "Hangup()"]
    lines = [f"[{CONTEXT}]", f"exten => s,1,{steps[0]}"]
    lines += [f" same => n,{step}" for step in steps[1:]]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AsteriskJingle:
    """Where the Asterisk side of the rig is reachable, for tests."""

    jid: str  # full JID clients send session-initiate to
    endpoint: str = ENDPOINT

    def dial(self, client_full_jid: str) -> str:
        """A dial string that makes Asterisk call a rig client."""
        return f"Motif/{self.endpoint}/{client_full_jid}"


# Stock Asterisk 22.10.1 segfaults at start-up now and then: chan_motif's config
# handler calls iks_filter_add_rule(connection->filter, ...) on the main thread, and
# res_xmpp creates that filter only in xmpp_client_reconnect(), on the client's own thread.
# Seen here as "segfault ... in libiksemel.so (iks_filter_add_rule+0x113)" in dmesg and
# "Asterisk exited during start-up". For builds without patch 0070 (which creates the filter
# with the client), the rig loads chan_motif after res_xmpp says the client is connected
# (`load_motif`); builds with it autoload chan_motif (fixtures.motif_race_fixed).
MOTIF_RACE = "chan_motif loaded before res_xmpp created the connection's iks filter"


def rtp_range(net: RigNet) -> tuple[int, int]:
    # One 200-port slice per /30, so concurrent rigs rarely probe the same ports.
    index = (int(net.subnet.network_address) >> 2) % 100
    start = 30000 + index * 200
    return start, start + 199


def configs(
    net: RigNet,
    prosody: Prosody,
    *,
    answer_delay: float | str = 0.0,
    app: str = "Echo()",
    pjproject_log_level: int = 5,
    routed: bool = False,
    motif_options: str = "",
) -> tuple[dict[str, str], AsteriskJingle]:
    """Config files (name -> full text) and the Asterisk JID for one rig Asterisk.

    `routed=True`: the Motif endpoint's context is callctl's `from-jingle` and the sandbox
    keeps its own extensions.conf (the repo's dialplan/, which hands calls to the Stasis app),
    so calls go through the routing daemon instead of the rig's echo context.
    `motif_options`: extra lines for the endpoint's motif.conf section (e.g. "dtls = required\n").
    """
    account = prosody.accounts["asterisk"]
    rtp_start, rtp_end = rtp_range(net)
    files = {
        # chan_motif is loaded by hand once res_xmpp is connected (see MOTIF_RACE).
        "modules.conf": (
            "[modules]\nautoload = yes\n"
            "noload = res_pjsip_phoneprov_provider.so\nnoload = res_phoneprov.so\n"
            "noload = chan_motif.so\n"
        ),
        "xmpp.conf": (
            "[general]\n"
            "debug = yes\n"  # the XML goes to the log: evidence for every test
            "autoregister = no\n"
            "autoprune = no\n"
            f"[{CONNECTION}]\n"
            "type = client\n"
            "serverhost = 127.0.0.1\n"
            f"port = {prosody.port}\n"
            f"username = {account.jid}/{RESOURCE}\n"
            f"secret = {account.password}\n"
            "usetls = no\n"
            "usesasl = yes\n"
            "status = available\n"
            "statusmessage = jingle rig\n"
        ),
        "motif.conf": (
            f"[{ENDPOINT}]\n"
            f"context = {ROUTED_CONTEXT if routed else CONTEXT}\n"
            "disallow = all\n"
            "allow = ulaw\n"
            "transport = ice-udp\n"
            f"connection = {CONNECTION}\n" + motif_options
        ),
        "rtp.conf": (
            "[general]\n"
            f"rtpstart = {rtp_start}\n"
            f"rtpend = {rtp_end}\n"
            "icesupport = yes\n"
            # Last matching rule wins: only the rig's /30 becomes a host candidate.
            "ice_deny = 0.0.0.0/0\n"
            "ice_deny = ::/0\n"
            f"ice_permit = {net.subnet}\n"
        ),
        "extensions.conf": (
            "[general]\nstatic = yes\nwriteprotect = yes\n\n" + dialplan(answer_delay, app)
        ),
        # pjnath's "ICE session created ... role is X agent" is a level-4 line; map 3-5 to
        # debug so the `full` log has it.
        "pjproject.conf": (
            "[startup]\ntype = startup\n"
            f"log_level = {pjproject_log_level}\n"
            "[log_mappings]\ntype = log_mappings\n"
            "asterisk_error = 0,1\nasterisk_warning = 2\nasterisk_debug = 3,4,5\n"
        ),
    }
    if routed:
        del files["extensions.conf"]
    return files, AsteriskJingle(jid=f"{account.jid}/{RESOURCE}")
