import pytest

from app.services.duplicates import GROUP_CAP, blocks, similar_pairs
from app.services.identity import company_key, name_key, name_score


@pytest.mark.parametrize("raw, key", [
    ("Acme Inc", "acme"), ("ACME", "acme"), ("  Acme, Inc. ", "acme"), ("Acme LLC", "acme"),
    ("Acme Ltd.", "acme"), ("Müller GmbH", "müller"), ("Acme Corporation", "acme"), ("Acme Co", "acme"),
    ("Inc", "inc"), ("Acme Industries", "acme industries"), ("Smith and Sons", "smith and sons"), (None, ""),
])
def test_company_names_are_compared_without_case_spaces_or_a_legal_suffix(raw, key):
    assert company_key(raw) == key


def test_only_one_legal_suffix_is_dropped_so_different_companies_stay_apart():
    assert company_key("Acme Holdings Ltd") == "acme holdings"
    assert company_key("Acme Holdings Ltd") != company_key("Acme Ltd")


def person(lead_id: int, first: str, last: str) -> tuple[int, str, str]:
    return lead_id, name_key(first), name_key(last)


def test_names_are_compared_lower_cased_without_punctuation():
    assert name_key("  O'Brien-Smith ") == "o brien smith" and name_key(None) == ""


def test_a_misspelt_first_name_is_a_likely_duplicate():
    pairs = similar_pairs([person(1, "Jon", "Smith"), person(2, "John", "Smith")])
    assert [(a, b) for a, b, _ in pairs] == [(1, 2)] and 85 <= pairs[0][2] < 100


def test_first_and_last_names_typed_into_the_wrong_boxes_are_a_likely_duplicate():
    assert similar_pairs([person(1, "Smith", "John"), person(2, "John", "Smith")]) == [(1, 2, 100)]


def test_a_whole_name_typed_into_one_box_is_a_likely_duplicate():
    assert similar_pairs([person(1, "John Smith", ""), person(2, "John", "Smith")]) == [(1, 2, 100)]


@pytest.mark.parametrize("other", [("Jane", "Doe"), ("Bob", "Jones"), ("Robert", "Smith"), ("Kim", "Lee"),
                                   ("Brian", "Macdonald"), ("Michelle", "Brown"), ("Elizabeth", "Ramos")])
def test_people_who_share_only_a_first_or_last_name_are_not_paired(other):
    for first, last in (("John", "Smith"), ("Erin", "Macdonald"), ("Michael", "Brown"), ("Elizabeth", "Gross")):
        assert similar_pairs([person(1, first, last), person(2, *other)]) == [], (first, last, other)


def test_the_score_is_the_weaker_of_the_first_and_last_name_matches():
    assert name_score("jon", "smith", "john", "smith") == pytest.approx(85.71, abs=0.01)
    assert name_score("mary", "smith", "mark", "smith") == 75


def test_pairs_come_best_match_first_and_each_pair_once():
    people = [person(1, "Jon", "Smith"), person(2, "John", "Smith"), person(3, "John", "Smith"),
              person(4, "Ada", "Lovelace")]
    pairs = similar_pairs(people)
    assert pairs[0] == (2, 3, 100)
    assert sorted(p[:2] for p in pairs) == [(1, 2), (1, 3), (2, 3)]


def test_a_company_bigger_than_the_cap_is_split_by_surname_initial():
    people = [(i, f"person{i}", "smith" if i % 2 else "jones") for i in range(GROUP_CAP + 10)]
    split = list(blocks(people))
    assert sorted(len(b) for b in split) == [(GROUP_CAP + 10) // 2] * 2
    assert all(len({last for _, _, last in block}) == 1 for block in split)
    assert list(blocks(people[:5])) == [people[:5]]
