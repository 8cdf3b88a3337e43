"""E.164 normalisation: accepted forms, and everything refused with a reason."""

from __future__ import annotations

import re

import pytest
from callctl.routing.numbers import NumberError, NumberingPlan, is_e164, normalise

NANP = NumberingPlan(
    country_code="1",
    international_prefixes=("011", "00"),
    national_prefix="1",
    national_number_lengths=(10,),
)
UK = NumberingPlan(
    country_code="44",
    international_prefixes=("00",),
    national_prefix="0",
    national_prefix_required=True,
)
INTERNATIONAL_ONLY = NumberingPlan()
_PLAN_NAMES = {id(NANP): "NANP", id(UK): "UK", id(INTERNATIONAL_ONLY): "international-only"}


def plan_id(value: object) -> str | None:
    """Test ids name the plan (None: pytest's own id for the other values)."""
    return _PLAN_NAMES.get(id(value))


@pytest.mark.parametrize(
    ("plan", "dialled", "expected"),
    [
        (NANP, "+15550104477", "+15550104477"),
        (NANP, "+1 555 010 4477", "+15550104477"),
        (NANP, "(555) 010-4477", "+15550104477"),
        (NANP, "555.010.4477", "+15550104477"),
        (NANP, "1 555 010 4477", "+15550104477"),
        (NANP, "5550104477", "+15550104477"),
        (NANP, "011 44 20 7946 0000", "+442079460000"),
        (NANP, "0044 20 7946 0000", "+442079460000"),
        (NANP, "+44 (20) 7946-0000", "+442079460000"),
        (UK, "020 7946 0000", "+442079460000"),
        (UK, "00 1 555 010 4477", "+15550104477"),
        (UK, "+33 1 23 45 67 89", "+33123456789"),
    ],
    ids=plan_id,
)
def test_accepted(plan: NumberingPlan, dialled: str, expected: str) -> None:
    assert normalise(dialled, plan) == expected


@pytest.mark.parametrize(
    ("plan", "dialled", "why"),
    [
        (NANP, "", "empty"),
        (NANP, "555 010 447", "10 digits"),  # national length enforced
        (NANP, "+0 555 010 4477", "never starts with 0"),
        (NANP, "+1555", "7 to 15"),
        (NANP, "+1234567890123456", "7 to 15"),
        (NANP, "00", "no digits after"),
        (NANP, "1-800-FLOWERS", "only digits"),
        (NANP, "555 010 4477#", "only digits"),
        (NANP, "*67 555 010 4477", "only digits"),
        (NANP, "555 010 44770", "10 digits"),
        (NANP, "5550104477\n", "only digits"),
        (NANP, "555010447\u0667", "only digits"),  # ARABIC-INDIC DIGIT SEVEN
        (NANP, "\uff15550104477", "only digits"),  # FULLWIDTH DIGIT FIVE
        (NANP, "+1+5550104477", "only digits"),  # '+' only at the start
        (NANP, "((555)) 010 4477", "parentheses"),
        (NANP, "(555 010 4477", "parentheses"),
        (NANP, "555) 010 (4477", "parentheses"),
        (NANP, "()5550104477", "parentheses"),
        (NANP, "5" * 41, "longer than 40"),
        (UK, "20 7946 0000", "must start with '0'"),
        (INTERNATIONAL_ONLY, "5550104477", "not accepted"),
    ],
    ids=plan_id,
)
def test_refused_with_reason(plan: NumberingPlan, dialled: str, why: str) -> None:
    with pytest.raises(NumberError, match=re.escape(why)):
        normalise(dialled, plan)


def test_longest_international_prefix_wins() -> None:
    # "011" must be tried before "0..." style shorter prefixes that share its start.
    plan = NumberingPlan(country_code="1", international_prefixes=("0", "011"))
    assert normalise("011 44 20 7946 0000", plan) == "+442079460000"


def test_is_e164_rejects_trailing_newline() -> None:
    # A regex checked with match() and "$" would accept this; fullmatch must not.
    assert is_e164("+15550104477")
    assert not is_e164("+15550104477\n")
    assert not is_e164("15550104477")
    assert not is_e164("+1555010447\u0667")
