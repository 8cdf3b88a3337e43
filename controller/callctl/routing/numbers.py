"""Normalising dialled numbers to E.164 ("+" then 7 to 15 ASCII digits).

Accepted forms: "+CC...", an international prefix ("00", "011", ...) then "CC...", or a
national number (with the national prefix, e.g. "0" or "1", where one is used). Spaces,
hyphens, dots and one pair of parentheses may separate digit groups. Anything else is refused,
including non-ASCII digits: str.isdigit() and \\d accept Arabic-Indic or fullwidth digits,
so only 0-9 count here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_INPUT_LENGTH = 40
_ALLOWED = re.compile(r"\+?[0-9 .()\-]*")
_SEPARATORS = str.maketrans("", "", " .-()")
_PARENS = re.compile(r"[^()]*(\([0-9 .\-]+\))?[^()]*")


class NumberError(ValueError):
    """A dialled string that is not a phone number this plan accepts; the text says why."""


@dataclass(frozen=True)
class NumberingPlan:
    """How national and international numbers are written where the callers live."""

    country_code: str = ""  # empty: national numbers are refused
    international_prefixes: tuple[str, ...] = ("00",)
    national_prefix: str = ""
    national_prefix_required: bool = False
    # Allowed lengths of the national significant number; empty means any that fits E.164.
    national_number_lengths: tuple[int, ...] = ()


def is_e164(number: str) -> bool:
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    return E164_RE.fullmatch(number) is not None


def normalise(dialled: str, plan: NumberingPlan) -> str:
    """Return the E.164 form of `dialled`, or raise NumberError with the reason."""
    if not dialled:
        raise NumberError("the number is empty")
    if len(dialled) > MAX_INPUT_LENGTH:
        raise NumberError(f"the number is longer than {MAX_INPUT_LENGTH} characters")
    if not dialled.isascii() or _ALLOWED.fullmatch(dialled) is None:
        raise NumberError(
            "only digits 0-9, a leading '+', spaces, '-', '.' and parentheses are allowed"
        )
    if _PARENS.fullmatch(dialled) is None:
        raise NumberError("parentheses must enclose one group of digits")
    digits = dialled.translate(_SEPARATORS)
    if digits.startswith("+"):
        return _international(digits[1:])
    for prefix in sorted(plan.international_prefixes, key=len, reverse=True):
        if digits.startswith(prefix):
            return _international(digits[len(prefix) :])
    return _national(digits, plan)


def _international(digits: str) -> str:
    if not digits:
        raise NumberError("no digits after the international prefix")
    if digits[0] == "0":
        raise NumberError("a country code never starts with 0")
    number = "+" + digits
    if not is_e164(number):
        raise NumberError(f"an E.164 number has 7 to 15 digits, this one has {len(digits)}")
    return number


def _national(digits: str, plan: NumberingPlan) -> str:
    if not digits:
        raise NumberError("the number has no digits")
    if not plan.country_code:
        raise NumberError("national numbers are not accepted: use '+' and the country code")
    prefix = plan.national_prefix
    if prefix and digits.startswith(prefix):
        digits = digits[len(prefix) :]
    elif prefix and plan.national_prefix_required:
        raise NumberError(
            f"a national number must start with {prefix!r}; "
            "international numbers need '+' or an international prefix"
        )
    lengths = plan.national_number_lengths
    if lengths and len(digits) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        raise NumberError(
            f"a national number has {allowed} digits after any prefix, this one has {len(digits)}"
        )
    return _international(plan.country_code + digits)
