"""Inserting many rows of one table at once (an import's batch): COPY on PostgreSQL, executemany
elsewhere, inside the current transaction.

COPY sends the rows as one stream instead of statements of thousands of parameters, which psycopg
has to split and PostgreSQL to parse (measured: bench/bench_import.py, about a third of an
import's time). Values go through each column type's own bind processing first, so what is stored
is what an executemany stores (a JSON column's None is JSON null, as SQLAlchemy sends it); row
triggers fire for COPY as for INSERT. Ids, when wanted, are drawn from the table's sequence
first and given to the rows in order."""
from __future__ import annotations

from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError

from app.extensions import db


def insert_many(table: Table, rows: list[dict], *, ids: bool = False) -> list[int]:
    """Insert `rows` (each naming the same columns) into `table`; with ids=True returns the new rows'
    ids in the rows' order (else an empty list)."""
    if not rows:
        return []
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        if ids:
            return list(db.session.scalars(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows))
        db.session.execute(table.insert(), rows)
        return []
    given = list(rows[0])
    columns = list(given)
    new_ids: list[int] = []
    if ids:
        new_ids = sorted(db.session.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                                                 "FROM generate_series(1, :n)"), {"table": table.name, "n": len(rows)}))
        columns.append("id")
    dialect = connection.dialect
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    statement = f"COPY {dialect.identifier_preparer.quote(table.name)} ({names}) FROM STDIN"
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for n, row in enumerate(rows):
                values = [row[name] for name in given] + ([new_ids[n]] if ids else [])
                copy.write_row([value if process is None else process(value)
                                for value, process in zip(values, processors)])
    except dialect.dbapi.Error as exc:  # as SQLAlchemy raises it for a statement: IntegrityError, DataError...
        raise DBAPIError.instance(statement, None, exc, dialect.dbapi.Error, dialect=dialect) from exc
    finally:
        cursor.close()
    return new_ids
