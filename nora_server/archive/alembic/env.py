"""Alembic environment: runs the package's migrations on the engine handed over by
:func:`nora_server.archive.db.upgrade` (``config.attributes["engine"]``)."""

from __future__ import annotations

import importlib

from alembic import context

from nora_server.archive.models import Base

# Other packages declare their tables on the same Base; import them so autogenerate sees the
# whole schema (``alembic revision --autogenerate`` with this folder as script location).
for _module in ("nora_server.batch.tables",):
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError:
        pass

target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        from nora_server.archive.db import make_engine
        from nora_server.config import load_settings

        engine = make_engine(load_settings().database)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch mode rebuilds a table by copying it and dropping the original: with foreign
            # keys on, SQLite would cascade that drop into the rows that refer to it (tags of
            # files...). Switched off outside the transaction, checked and on again after.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # end SQLAlchemy's autobegun transaction: Alembic starts its own
        try:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=sqlite)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run 'noractl db upgrade'")
run_migrations_online()
