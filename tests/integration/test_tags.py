"""Tags on leads: the service's rules and each way in (lead page, pool, API, capture, import, export)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import LeadTag, Tag, TimelineEntry
from app.services import ServiceError, atomic
from app.services import tags as tag_service
from app.services.tags import MAX_LENGTH, MAX_PER_LEAD, clean_tags, tags_for


def entries(lead_id: int, kind: str) -> list[dict]:
    return [e.data for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead_id, TimelineEntry.kind == kind).order_by(TimelineEntry.id))]


def counts() -> dict[str, int]:
    return dict(db.session.execute(select(Tag.name, Tag.lead_count)).all())


# --- the rules --------------------------------------------------------------------------------


def test_clean_tags_splits_on_commas_and_semicolons_and_keeps_one_of_each_case():
    assert clean_tags(" VIP, trade  show; vip ;;Trade Show , Köln") == ["VIP", "trade show", "Köln"]
    assert clean_tags(["a", "b;c"]) == ["a", "b", "c"]
    assert clean_tags(None) == [] and clean_tags("") == []


@pytest.mark.parametrize("raw, message", [
    ("x" * (MAX_LENGTH + 1), f"Keep each tag to {MAX_LENGTH} characters"),
    ("<script>", "Tags may hold letters, digits, spaces"),
    ("bell\x07here", "Tags may hold letters, digits, spaces"),
    (", ".join(f"t{n}" for n in range(MAX_PER_LEAD + 1)), f"at most {MAX_PER_LEAD} tags"),
    (",".join(f"t{n}" for n in range(5000)), f"at most {MAX_PER_LEAD} tags"),
    ([f"t{n}" for n in range(5000)], f"at most {MAX_PER_LEAD} tags"),
    ([1, 2], "Give tags as text"),
    ({"a": 1}, "Give tags as text"),
])
def test_clean_tags_refuses_bad_input_with_a_message_for_the_tags_field(raw, message):
    with pytest.raises(ServiceError) as refused:
        clean_tags(raw)
    assert message in refused.value.message and refused.value.field == "tags"


def test_adding_tags_in_any_case_makes_one_tag_and_records_the_new_ones(app, make_lead):
    lead, other = make_lead(), make_lead(first_name="Otto")
    assert tag_service.add_tags(lead.id, "VIP, Trade show", None) == ["Trade show", "VIP"]
    assert tag_service.add_tags(lead.id, "vip, hot", None) == ["hot", "Trade show", "VIP"]
    tag_service.add_tags(other.id, ["vip"], None)
    assert db.session.scalar(select(func.count()).select_from(Tag)) == 3
    assert counts() == {"VIP": 2, "Trade show": 1, "hot": 1}
    assert entries(lead.id, "tagged") == [{"tags": ["Trade show", "VIP"]}, {"tags": ["hot"]}]
    assert tags_for([lead.id, other.id, 999]) == {lead.id: ["hot", "Trade show", "VIP"], other.id: ["VIP"], 999: []}


def test_removing_a_tag_records_it_and_removing_one_the_lead_lacks_changes_nothing(app, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, "vip, hot", None)
    assert tag_service.remove_tag(lead.id, "VIP", None) == ["hot"]
    assert tag_service.remove_tag(lead.id, "vip", None) == ["hot"]
    assert tag_service.remove_tag(lead.id, "never-made", None) == ["hot"]
    assert entries(lead.id, "untagged") == [{"tags": ["vip"]}]
    assert counts() == {"vip": 0, "hot": 1}


def test_a_lead_cannot_pass_the_tag_limit_and_nothing_of_the_refused_change_is_kept(app, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, [f"t{n}" for n in range(MAX_PER_LEAD - 1)], None)
    with pytest.raises(ServiceError) as refused:
        tag_service.add_tags(lead.id, "one, two", None)
    assert f"at most {MAX_PER_LEAD} tags" in refused.value.message
    assert len(tags_for([lead.id])[lead.id]) == MAX_PER_LEAD - 1
    assert len(entries(lead.id, "tagged")) == 1
    assert tag_service.find_tag("one") is None


def test_tagging_joins_the_callers_transaction(app, make_lead):
    lead = make_lead()
    with pytest.raises(RuntimeError):
        with atomic():
            tag_service.add_tags(lead.id, "vip", None)
            raise RuntimeError("the outer action failed")
    assert tags_for([lead.id])[lead.id] == [] and entries(lead.id, "tagged") == []


def test_bulk_tag_and_untag_change_many_leads_in_a_few_statements(app, make_lead, count_queries):
    leads = [make_lead(first_name=f"L{n}") for n in range(30)]
    ids = [lead.id for lead in leads]
    tag_service.add_tags(ids[0], "vip", None)
    with count_queries() as counter:
        changed = tag_service.bulk_tag(ids, "VIP, Hot", None)
    # Re-scoring the tagged leads adds a fixed handful (the rules, once; the leads, one query; one UPDATE).
    assert changed == 30 and counter.count < 25
    assert counts() == {"vip": 30, "Hot": 30}
    assert entries(ids[0], "tagged")[-1] == {"tags": ["Hot"]}
    assert entries(ids[1], "tagged") == [{"tags": ["Hot", "vip"]}]
    assert tag_service.bulk_untag(ids[:10], "hot, unknown", None) == 10
    assert counts() == {"vip": 30, "Hot": 20}
    assert entries(ids[5], "untagged") == [{"tags": ["Hot"]}]


def test_bulk_tag_refuses_a_batch_that_would_pass_a_leads_limit(app, make_lead):
    full, empty = make_lead(), make_lead()
    tag_service.add_tags(full.id, [f"t{n}" for n in range(MAX_PER_LEAD)], None)
    with pytest.raises(ServiceError):
        tag_service.bulk_tag([full.id, empty.id], "extra", None)
    assert tags_for([empty.id])[empty.id] == []


def test_renaming_a_tag_renames_it_everywhere_and_refuses_a_name_in_use(app, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, "vip, hot", None)
    vip = tag_service.find_tag("vip")
    tag_service.rename_tag(vip.id, "Key account", None)
    assert tags_for([lead.id])[lead.id] == ["hot", "Key account"]
    with pytest.raises(ServiceError) as refused:
        tag_service.rename_tag(vip.id, "HOT", None)
    assert refused.value.field == "name"


def test_deleting_a_tag_keeps_an_entry_on_each_lead_that_carried_it(app, make_lead, admin):
    a, b, c = make_lead(), make_lead(), make_lead()
    tag_service.bulk_tag([a.id, b.id], "vip", None)
    assert tag_service.delete_tag(tag_service.find_tag("vip").id, admin.id) == 2
    assert tags_for([a.id, b.id]) == {a.id: [], b.id: []}
    assert entries(a.id, "untagged") == [{"tags": ["vip"], "deleted": True}]
    assert entries(c.id, "untagged") == []
    assert db.session.scalar(select(func.count()).select_from(LeadTag)) == 0


def test_suggestions_are_bounded_most_used_first_and_match_what_is_typed(app, make_lead):
    a, b = make_lead(), make_lead()
    tag_service.bulk_tag([a.id, b.id], "Trade show", None)
    tag_service.add_tags(a.id, "Show me, a_b", None)
    assert tag_service.suggestions("SHOW") == ["Trade show", "Show me"]
    assert tag_service.suggestions("%") == [] and tag_service.suggestions("_") == ["a_b"]
    assert len(tag_service.suggestions("", limit=1)) == 1


def test_merging_gives_the_survivor_the_losers_tags_and_undo_gives_them_back(app, make_lead):
    from app.services.merge import merge_leads, undo_merge
    survivor, loser = make_lead(first_name="Sam"), make_lead(first_name="Lou")
    tag_service.add_tags(survivor.id, "vip", None)
    tag_service.add_tags(loser.id, "VIP, hot", None)
    merge = merge_leads(survivor.id, loser.id, {}, None)
    assert tags_for([survivor.id])[survivor.id] == ["hot", "vip"]
    assert counts() == {"vip": 1, "hot": 1}
    undo_merge(merge.id, None)
    assert tags_for([survivor.id, merge.loser_id]) == {survivor.id: ["vip"], merge.loser_id: ["hot", "vip"]}
    assert counts() == {"vip": 2, "hot": 1}


def test_tagging_while_an_admin_deletes_that_tag_never_fails(app, make_lead, database_url):
    """On PostgreSQL the tagger waits for the delete and makes the tag anew (or the delete waits)."""
    import threading
    from app.extensions import db as database
    lead, other = make_lead(), make_lead()
    tag_service.add_tags(other.id, "vip", None)
    vip = tag_service.find_tag("vip").id
    errors = []

    def tag_it():
        with app.app_context():
            try:
                tag_service.add_tags(lead.id, "vip", None)
            except Exception as exc:  # noqa: BLE001 (the test reports any failure)
                errors.append(exc)
            finally:
                database.session.remove()

    with atomic():
        tag_service.delete_tag(vip, None)
        worker = threading.Thread(target=tag_it)
        worker.start()
        worker.join(0.5)  # on PostgreSQL it waits on the tag row this transaction is deleting
    worker.join(10)
    assert errors == [] and tags_for([lead.id, other.id]) == {lead.id: ["vip"], other.id: []}
    assert counts() == {"vip": 1}
