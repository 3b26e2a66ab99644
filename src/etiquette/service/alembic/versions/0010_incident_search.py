"""incident_search: the full-text index of the review queue's search (transcript, staff, window)

Chinese has no spaces between words, so both backends index character trigrams, which find
any substring of three characters or more through the index (shorter ones by a scan of the
search table): SQLite an FTS5 table with the trigram tokenizer, PostgreSQL a table with a
pg_trgm GIN index. Triggers keep it in sync when an incident is inserted or its text, staff or
window changes, and when a staff member or window is renamed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The text searched for one incident `i`: its transcript, its staff's name and number, its
# window's code, number and department, one per line.
SQLITE_BODY = """{i}.transcript || char(10)
  || coalesce((SELECT s.name || ' ' || s.employee_no FROM staff s WHERE s.id = {i}.staff_id), '')
  || char(10) || {i}.window_id || ' '
  || coalesce((SELECT w.number || ' ' || w.department FROM windows w WHERE w.id = {i}.window_pk),
              '')"""
PG_BODY = SQLITE_BODY.replace("char(10)", "E'\\n'")

SQLITE_UP = [
    "CREATE VIRTUAL TABLE incident_search USING fts5(incident_id UNINDEXED, body, "
    "tokenize = 'trigram')",
    f"INSERT INTO incident_search (incident_id, body) SELECT i.id, {SQLITE_BODY.format(i='i')} "
    "FROM incidents i",
    f"""CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents BEGIN
      INSERT INTO incident_search (incident_id, body)
        VALUES (new.id, {SQLITE_BODY.format(i='new')});
    END""",
    f"""CREATE TRIGGER incident_search_update
    AFTER UPDATE OF transcript, staff_id, window_id, window_pk ON incidents BEGIN
      DELETE FROM incident_search WHERE incident_id = old.id;
      INSERT INTO incident_search (incident_id, body)
        VALUES (new.id, {SQLITE_BODY.format(i='new')});
    END""",
    """CREATE TRIGGER incident_search_delete AFTER DELETE ON incidents BEGIN
      DELETE FROM incident_search WHERE incident_id = old.id;
    END""",
    *(f"""CREATE TRIGGER incident_search_{table} AFTER UPDATE OF {columns} ON {table} BEGIN
      DELETE FROM incident_search
        WHERE incident_id IN (SELECT id FROM incidents WHERE {key} = new.id);
      INSERT INTO incident_search (incident_id, body)
        SELECT i.id, {SQLITE_BODY.format(i='i')} FROM incidents i WHERE i.{key} = new.id;
    END""" for table, columns, key in (("staff", "name, employee_no", "staff_id"),
                                        ("windows", "number, department", "window_pk"))),
]
SQLITE_DOWN = ["DROP TRIGGER incident_search_windows", "DROP TRIGGER incident_search_staff",
               "DROP TRIGGER incident_search_delete", "DROP TRIGGER incident_search_update",
               "DROP TRIGGER incident_search_insert", "DROP TABLE incident_search"]

PG_UP = [
    # A trusted extension (PostgreSQL 13+): the database's owner may create it. It stays on
    # downgrade, as other tables of the database may use it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE TABLE incident_search (
      incident_id VARCHAR(36) PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
      body TEXT NOT NULL)""",
    "CREATE INDEX ix_incident_search_body ON incident_search USING gin (body gin_trgm_ops)",
    f"INSERT INTO incident_search (incident_id, body) SELECT i.id, {PG_BODY.format(i='i')} "
    "FROM incidents i",
    f"""CREATE FUNCTION incident_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO incident_search (incident_id, body) VALUES (NEW.id, {PG_BODY.format(i='NEW')})
        ON CONFLICT (incident_id) DO UPDATE SET body = EXCLUDED.body;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER incident_search_sync
    AFTER INSERT OR UPDATE OF transcript, staff_id, window_id, window_pk ON incidents
    FOR EACH ROW EXECUTE FUNCTION incident_search_sync()""",
    f"""CREATE FUNCTION incident_search_staff() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE incident_search x SET body = {PG_BODY.format(i='i')} FROM incidents i
        WHERE i.id = x.incident_id AND i.staff_id = NEW.id;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER incident_search_staff AFTER UPDATE OF name, employee_no ON staff
    FOR EACH ROW EXECUTE FUNCTION incident_search_staff()""",
    f"""CREATE FUNCTION incident_search_windows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE incident_search x SET body = {PG_BODY.format(i='i')} FROM incidents i
        WHERE i.id = x.incident_id AND i.window_pk = NEW.id;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER incident_search_windows AFTER UPDATE OF number, department ON windows
    FOR EACH ROW EXECUTE FUNCTION incident_search_windows()""",
]
PG_DOWN = ["DROP TRIGGER incident_search_windows ON windows",
           "DROP TRIGGER incident_search_staff ON staff",
           "DROP TRIGGER incident_search_sync ON incidents",
           "DROP FUNCTION incident_search_windows()", "DROP FUNCTION incident_search_staff()",
           "DROP FUNCTION incident_search_sync()", "DROP TABLE incident_search"]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _run(PG_UP if postgres else SQLITE_UP)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _run(PG_DOWN if postgres else SQLITE_DOWN)
