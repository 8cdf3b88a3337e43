"""Whether a probe call uses an optional part (DTLS, JMI), as clients decide it (pure)."""

from __future__ import annotations

from callctl.probe.timeline import Timeline


def use_optional(
    timeline: Timeline,
    event: str,
    mode: str,
    features: set[str] | None,
    feature: str,
    what: str,
    callee: str,
) -> bool:
    """`mode` is the flag's value (auto, on, off); `features` the callee's disco#info (None:
    no answer). A part not used gets a note on `event` saying why."""
    flag = f"--{'dtls' if event == 'dtls' else 'jmi'}"
    if mode != "auto":
        if mode == "off":
            timeline.skip(event, f"not used ({flag} off)")
        return mode == "on"
    if features is None:
        timeline.skip(event, f"not used: no disco#info answer from {callee}")
        return False
    if feature not in features:
        timeline.skip(event, f"not used: {callee} does not advertise {what}")
        return False
    return True
