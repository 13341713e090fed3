"""How a first response's time reads on the lead page."""
import pytest

from app.services.touches import duration_words


@pytest.mark.parametrize("seconds, words", [
    (0, "under a minute"), (59, "under a minute"), (60, "1 min"), (4 * 60 + 59, "4 min"), (3600, "1 h"),
    (2 * 3600 + 5 * 60, "2 h 5 min"), (47 * 3600, "47 h"), (3 * 86400 + 100, "3 days"),
])
def test_a_response_time_reads_in_rounded_words(seconds, words):
    assert duration_words(seconds) == words
