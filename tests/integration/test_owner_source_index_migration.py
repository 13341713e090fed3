"""The migration that adds ix_leads_owner_source (a restricted member's source pickers) adds it and
takes it away again."""
import warnings

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect
from sqlalchemy.exc import SAWarning

from app.extensions import db

BEFORE, AFTER = "d6e7f8a9b0c1", "9a6362dec061"


def lead_indexes() -> dict[str, list[str]]:
    with warnings.catch_warnings():  # SQLite cannot reflect the expression indexes (lower(company)...)
        warnings.simplefilter("ignore", SAWarning)
        return {ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("leads")}


def test_the_owner_and_source_index_comes_and_goes_with_its_migration(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        assert "ix_leads_owner_source" not in lead_indexes()
        upgrade(revision=AFTER)
        assert lead_indexes()["ix_leads_owner_source"] == ["owner_id", "source"]
        downgrade(revision=BEFORE)
        assert "ix_leads_owner_source" not in lead_indexes()
        assert "ix_leads_source" in lead_indexes()  # the plain source index stays
        db.engine.dispose()
