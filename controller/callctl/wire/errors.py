"""The one exception the wire decoders raise on malformed input."""

from __future__ import annotations


class DecodeError(ValueError):
    """Bytes that are not what their header says (truncated, bad magic, bad length)."""
