"""Extensions are created here and bound to an app in create_app()."""
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite: WAL lets readers and one writer work at once; NORMAL sync is safe under WAL. A page
    cache of up to 32 MiB per connection (the default is 2 MiB): past a few hundred thousand leads
    an import's index writes otherwise read most pages back from the OS (bench/IMPORT.md)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _sqlite_from_hint(self, table, text):
    """Render `select(...).with_hint(Model, "INDEXED BY ix_name", "sqlite")` after the table name.
    SQLAlchemy's SQLite compiler renders no table hints at all (it returns None), so without this a
    hint is silently dropped and the planner may pick an index that scans a whole stage."""
    return text


SQLiteCompiler.get_from_hint_text = _sqlite_from_hint

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
# Pages and fragments go out compressed (zstd, brotli or gzip, as the browser accepts).
compress = Compress()
