"""Recording the SQL a piece of code runs, through SQLAlchemy engine events."""

from contextlib import contextmanager

from sqlalchemy import event

from app.database import app_engines


@contextmanager
def recorded_queries(app):
    """Yield a list that fills with (statement, parameters) for every query run on the app's engines.

    Its own and, on PostgreSQL, the autocommit pool that page views read through (app.database).
    """
    with app.app_context():
        engines = app_engines()
    queries = []

    def record(conn, cursor, statement, parameters, context, executemany):
        queries.append((statement, parameters))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield queries
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def query_plan(connection, statement, parameters):
    """The database's plan for a recorded statement, as one string."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(row[-1] for row in rows)
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tiny tables: show the index is usable
    rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    return "\n".join(row[0] for row in rows)
