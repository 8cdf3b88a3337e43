"""The Asterisk modules a gateway cannot run without (SIP, ARI/Stasis, Jingle, media, the
dialplan), checked against the resolved menuselect set (unit) and the real build (functional)."""

NEEDED_MODULES = (
    "chan_pjsip",
    "res_pjsip",
    "res_pjsip_session",
    "res_ari",
    "res_ari_channels",
    "res_stasis",
    "app_stasis",
    "res_http_websocket",
    "chan_motif",
    "res_xmpp",
    "res_rtp_asterisk",
    "codec_ulaw",
    "codec_alaw",
    "pbx_config",
    "app_dial",
)
