"""Destination patterns: E.164 prefixes with digit wildcards.

A pattern is "+" followed by digits and the wildcards X (any digit), Z (1-9) and N (2-9),
matched against the start of an E.164 number: "+44" matches every UK number, "+1900" all of
+1 900, "+1N" every NANP number whose area code starts with 2-9, and "+" every number.
Spaces are allowed for readability ("+44 9").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYNTAX = re.compile(r"\+[0-9XZN ]*")
_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    line: int = 0

    def matches(self, number: str) -> bool:
        return self.regex.match(number) is not None


def compile_pattern(text: str, line: int = 0) -> Pattern:
    if not text.isascii() or _SYNTAX.fullmatch(text) is None:
        raise PatternError(
            f"invalid pattern {text!r}: use '+' then digits and X/Z/N wildcards, e.g. '+1900'"
        )
    body = text[1:].replace(" ", "")
    regex = r"\+" + "".join(_CLASSES.get(c, c) for c in body)
    return Pattern(text=text, regex=re.compile(regex), line=line)


def first_match(patterns: tuple[Pattern, ...], number: str) -> Pattern | None:
    for pattern in patterns:
        if pattern.matches(number):
            return pattern
    return None
