"""When two names sharing a phone may be one person's (identity.similar_names)."""
import pytest

from app.services.identity import similar_names


@pytest.mark.parametrize("a, b, similar", [
    (("Jon", "Smith"), ("John", "Smith"), True),  # a typo
    (("Smith", "John"), ("John", "Smith"), True),  # boxes swapped
    (("Ada", "Lovelace"), ("ADA", "lovelace"), True),  # case
    (("Ada", "Lovelace"), ("", ""), True),  # the newcomer gave no name
    (("Bo", "Lead"), ("Bo", ""), True),  # only a first name, and it agrees
    (("Bo", "Lead"), ("", "Lead"), True),  # only a last name, and it agrees
    (("Ada", "Lovelace"), ("Bob", "Brown"), False),
    (("John", "Smith"), ("Jane", "Smith"), False),  # a shared surname alone is not enough
    (("Ada", "Lovelace"), ("Ada", "Byron"), False),  # nor a shared first name
    (("Ada", ""), ("", "Lovelace"), False),  # nothing to agree on
    (("Bo", "Lead"), ("Al", ""), False),
])
def test_similar_names(a, b, similar):
    assert similar_names(*a, *b) is similar
    assert similar_names(*b, *a) is similar
