"""Packets on the wire, decoded sans-IO: pcap/pcapng files, UDP, STUN/TURN, DTLS, RTP.

`pcap.PcapReader` turns bytes into link-layer frames, `packet.udp_datagram` a frame into a UDP
datagram, `classify.classify` a datagram's payload into STUN, DTLS, RTP/RTCP or other (RFC
7983 demultiplexing), with `stun`, `dtls` and `rtp` decoding each. Every decoder raises only
`errors.DecodeError` on malformed input. `ice.WireIce` builds the per-ICE-session view and
`signatures.diagnose` names its failures; `capture.read_capture` runs it all on a file.
"""
