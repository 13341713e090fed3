"""The board's per-lead search probe (search.row_clause past FEW matches) finds exactly the leads the
pool's search does, on SQLite (models/search.has_words) and PostgreSQL (the stored tsvector)."""
from sqlalchemy import select

from app.extensions import db
from app.models import Lead
from app.services import leads as lead_service, search

PEOPLE = [
    {"first_name": "Zoë", "last_name": "Fischer-Ayers", "company": "Acme Rockets", "email": "zoe@acme.example"},
    {"first_name": "Marta", "last_name": "Øster", "company": "Globex", "phone": "+1 555 010 2000"},
    {"first_name": "Mark", "last_name": "Acmeson", "company": "Initech", "job_title": "Head of Sales"},
    {"first_name": "Ann", "last_name": "Lee", "company": "", "email": "ann@example.com"},
]


def test_the_per_lead_probe_finds_what_the_pools_search_finds(app, admin, stages, monkeypatch):
    ids = [lead_service.create_lead(p, admin.id).id for p in PEOPLE]
    lead_service.add_note(ids[3], "Met at the rocket fair in Malmö", admin.id)
    db.session.commit()
    for query in ["acme", "zoe fischer", "ayers", "oster", "ma", "mar acme", "rocket", "malmo", "(555) 010-2000",
                  "5550102000", "head sales", "example", "nobody", "é"]:
        pool = set(db.session.scalars(select(Lead.id).where(search.pool_clause(query))))
        monkeypatch.setattr(search, "FEW", 0)  # every search past FEW: probed lead by lead
        clause, per_row = search.row_clause(query)
        probed = set(db.session.scalars(select(Lead.id).where(clause)))
        monkeypatch.undo()
        assert probed == pool, query
        assert per_row or not pool, query
