"""Backups of the whole database and restoring them: `flask --app app backup|restore`.

A backup file is one line naming the format, one line of JSON (the manifest: format version,
database kind, the schema's Alembic revision, when it was made, the payload's size and SHA-256),
then the payload: a SQLite database file made with SQLite's online backup API (a consistent copy
while the app keeps working), or `pg_dump -Fc` output for PostgreSQL (one snapshot).

Restoring checks everything it can before it touches the database (the manifest, the size and
checksum, the kind, the schema revision against this code's migrations) and then replaces the
database in one step: SQLite's backup API copies the checked file into the live one as one write
transaction; PostgreSQL drops and rebuilds the schema with psql in one transaction. A failure at
any point leaves the database as it was."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.services import ServiceError

MAGIC = b"LEADBOARD-BACKUP\n"
FORMAT = 1
MANIFEST_LIMIT = 4096  # bytes: a longer second line is not one of ours
POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
CHUNK = 1 << 20


class BackupRefused(ServiceError):
    """The file cannot be restored here; nothing was changed."""


@dataclass(frozen=True)
class Manifest:
    format: int
    kind: str  # "sqlite" or "postgresql"
    revision: str | None
    created_at: str
    size: int
    sha256: str

    def describe(self) -> str:
        return f"a {self.kind} backup of schema {self.revision or '(none)'} made {self.created_at}"


# --- what the code and the database are -------------------------------------------------------


def _scripts():
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from flask import current_app
    config = Config()
    config.set_main_option("script_location", current_app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config)


def code_head() -> str:
    """The newest schema revision this code knows."""
    return _scripts().get_current_head()


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an unknown or malformed id
        return False


def database_kind() -> str:
    return "postgresql" if db.engine.dialect.name == "postgresql" else "sqlite"


def database_revision() -> str | None:
    """The revision the live database is at (None: not migrated)."""
    try:
        with db.engine.connect() as conn:
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # no alembic_version table: an empty database
        return None


# --- writing ----------------------------------------------------------------------------------


def create_backup(destination: str | os.PathLike) -> Manifest:
    """Write a consistent copy of the whole database to `destination` (replaced atomically)."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".backup-") as work:
        payload = Path(work) / "payload"
        if database_kind() == "sqlite":
            _sqlite_copy(payload)
            revision = _sqlite_revision(payload)
        else:
            revision = database_revision()
            _pg_run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={payload}"])
        manifest = Manifest(FORMAT, database_kind(), revision,
                            datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            payload.stat().st_size, _sha256(payload))
        partial = Path(work) / "backup"
        with open(partial, "wb") as out, open(payload, "rb") as src:
            out.write(MAGIC)
            out.write(json.dumps(manifest.__dict__, sort_keys=True).encode() + b"\n")
            shutil.copyfileobj(src, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, destination)
    return manifest


def _sqlite_file() -> str:
    return db.engine.url.database


def _sqlite_copy(target: Path) -> None:
    """SQLite's online backup: a consistent snapshot even while other connections write."""
    source = sqlite3.connect(_sqlite_file())
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        copy.close()
        source.close()


def _sqlite_revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- reading ----------------------------------------------------------------------------------


def read_manifest(source: str | os.PathLike) -> Manifest:
    """The file's manifest after checking the payload is whole; raises BackupRefused."""
    source = Path(source)
    if not source.is_file():
        raise BackupRefused(f"There is no backup file at {source}.")
    with open(source, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupRefused(f"{source} is not a Leadboard backup (it does not start as one).")
        line = f.readline(MANIFEST_LIMIT)
        try:
            raw = json.loads(line)
            manifest = Manifest(**{k: raw[k] for k in Manifest.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            raise BackupRefused(f"{source} is damaged: its manifest cannot be read. Nothing was restored.") from None
        if not isinstance(manifest.format, int) or manifest.format > FORMAT:
            raise BackupRefused(f"{source} was written in backup format {manifest.format}, newer than this "
                                f"version of Leadboard reads ({FORMAT}). Restore it with the version that made it, "
                                "or upgrade Leadboard first. Nothing was restored.")
        start = f.tell()
    size = source.stat().st_size - start
    if size != manifest.size:
        raise BackupRefused(f"{source} is truncated or damaged: its payload is {size:,} bytes where the manifest "
                            f"says {manifest.size:,}. Nothing was restored.")
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        f.seek(start)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != manifest.sha256:
        raise BackupRefused(f"{source} is damaged: its checksum does not match. Nothing was restored.")
    return manifest


def check_restorable(manifest: Manifest) -> None:
    """Refuse (BackupRefused) a backup of the other kind of database or of a schema this code does not know."""
    kind = database_kind()
    if manifest.kind != kind:
        raise BackupRefused(f"This is a {manifest.kind} backup and this Leadboard uses {kind}: restore it into a "
                            f"{manifest.kind} database. Nothing was restored.")
    head = code_head()
    if manifest.revision and not _known(manifest.revision):
        raise BackupRefused(f"This backup's schema (revision {manifest.revision}) is newer than this version of "
                            f"Leadboard knows (its newest is {head}). Upgrade Leadboard, then restore. "
                            "Nothing was restored.")


def restore_backup(source: str | os.PathLike) -> Manifest:
    """Replace the whole database with the backup's, all or nothing; raises BackupRefused."""
    manifest = read_manifest(source)
    check_restorable(manifest)
    with tempfile.TemporaryDirectory(prefix="leadboard-restore-") as work:
        payload = Path(work) / "payload"
        with open(source, "rb") as f, open(payload, "wb") as out:
            f.read(len(MAGIC))
            f.readline(MANIFEST_LIMIT)
            shutil.copyfileobj(f, out, CHUNK)
        if _sha256(payload) != manifest.sha256:  # changed between the check and the copy
            raise BackupRefused("The backup file changed while it was read. Nothing was restored.")
        db.session.remove()
        db.engine.dispose()  # no pooled connection of ours holds a lock on what is replaced
        if manifest.kind == "sqlite":
            _sqlite_restore(payload, manifest)
        else:
            _pg_restore(payload, work)
        db.engine.dispose()
    return manifest


def _sqlite_restore(payload: Path, manifest: Manifest) -> None:
    check = sqlite3.connect(f"file:{payload}?mode=ro", uri=True)
    try:
        ok = check.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error:
        ok = "not a database"
    finally:
        check.close()
    if ok != "ok" or _sqlite_revision(payload) != manifest.revision:
        raise BackupRefused("The backup's database fails SQLite's integrity check. Nothing was restored.")
    source = sqlite3.connect(f"file:{payload}?mode=ro", uri=True)
    live = sqlite3.connect(_sqlite_file(), timeout=30)
    try:
        # pages=-1 (the default): the whole copy is one write transaction on the live database.
        source.backup(live)
        live.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:  # busy past the timeout, disk full: the copy did not happen
        raise BackupRefused(f"SQLite could not replace the database ({exc}); stop the web processes and "
                            "workers and try again. Nothing was changed.") from None
    finally:
        live.close()
        source.close()


def _pg_restore(payload: Path, work: str) -> None:
    """Drop and rebuild the schema and load the dump, in one psql transaction that stops at the first error."""
    script = Path(work) / "restore.sql"
    _pg_run(["pg_restore", "--no-owner", "--no-privileges", f"--file={script}", str(payload)], database=False)
    prelude = Path(work) / "prelude.sql"
    prelude.write_text("DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")
    _pg_run(["psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
             f"--file={prelude}", f"--file={script}"])


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in POSTGRES_BIN_DIRS:
        if Path(directory, name).is_file():
            return str(Path(directory, name))
    raise BackupRefused(f"{name} was not found: install PostgreSQL's client tools (Debian: postgresql-client).")


def _pg_env() -> dict[str, str]:
    """libpq settings from DATABASE_URL, in the environment (a password on a command line shows in `ps`)."""
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    env = {**os.environ}
    for name, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                        ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):
        if value is not None:
            env[name] = str(value)
    for key, name in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("host", "PGHOST")):
        if key in url.query:
            value = url.query[key]
            env[name] = value if isinstance(value, str) else value[0]
    return env


def _pg_run(args: list[str], database: bool = True) -> None:
    command = [_pg_binary(args[0]), *args[1:]]
    env = _pg_env() if database else {**os.environ}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line[line.index("ERROR:"):] for line in lines if "ERROR:" in line]  # not psql's file:line
        detail = (errors or lines or [f"exit status {result.returncode}"])[0].rstrip(".")
        raise BackupRefused(f"{args[0]} failed: {detail}. Nothing was changed.")
