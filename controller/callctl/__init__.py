"""callctl: build, run and debug an Asterisk gateway between Jingle clients and phones."""

__version__ = "0.1.0"
