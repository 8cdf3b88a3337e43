"""`callctl debug on --for`: absurd durations are a usage error (exit 2), not an internal error."""

import pytest
from callctl.debug._model import parse_duration
from callctl.errors import UsageError


@pytest.mark.parametrize(
    "text", ["99999999999999999999h", "9" * 5000 + "s", "1h99999999999999999999m", "\u0663h"]
)
def test_huge_or_non_ascii_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)
