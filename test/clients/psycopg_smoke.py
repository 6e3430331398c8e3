"""psycopg 3 through the gateway: prints one JSON document the vitest test checks.

Usage: psycopg_smoke.py CONNINFO  (the token comes in PGPASSWORD)
"""
import datetime
import decimal
import json
import sys

try:
    import psycopg
    from psycopg.types.json import Jsonb
except ImportError as e:  # the test turns this into a failure with a clear message
    print(json.dumps({"error": "psycopg not importable: %s" % e}))
    sys.exit(3)

out = {"version": psycopg.__version__}
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT %s::int + 1 AS n, %s::text AS s", (41, "snow ☃"))
        out["params"] = list(cur.fetchone())
        # psycopg declares each parameter's type in the Parse: float8, numeric, timestamptz,
        # jsonb and bytea OIDs are binary, not text.
        cur.execute(
            "SELECT %s::text, %s::text, %s::date::text, %s::text, length(%s)",
            (2.5, decimal.Decimal("12.34"), datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc), Jsonb({"a": 1}), b"\x00\xff"),
        )
        out["typed"] = list(cur.fetchone())

        cur.executemany("INSERT INTO items (id, name) VALUES (%s, %s)", [(i, "n%d" % i) for i in range(1, 11)])
        cur.execute("SELECT count(*) FROM items")
        out["executemany_count"] = cur.fetchone()[0]

    # A transaction that commits and one that rolls back.
    with conn.transaction():
        conn.execute("UPDATE items SET name = 'committed' WHERE id = 1")
    try:
        with conn.transaction():
            conn.execute("UPDATE items SET name = 'rolled back' WHERE id = 2")
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    out["tx"] = [r[0] for r in conn.execute("SELECT name FROM items WHERE id IN (1, 2) ORDER BY id")]

    # Server-side prepared statements.
    for i in (3, 4, 5, 3):
        conn.execute("SELECT name FROM items WHERE id = %s", (i,), prepare=True)
    out["prepared_on_server"] = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    out["prepared_result"] = conn.execute("SELECT name FROM items WHERE id = %s", (4,), prepare=True).fetchone()[0]

    # Errors keep the connection usable.
    try:
        conn.execute("SELEC broken")
    except psycopg.Error as e:
        out["syntax_error"] = e.sqlstate
    out["after_error"] = conn.execute("SELECT 'ok'").fetchone()[0]

    # Pipeline mode (libpq 14+).
    out["pipeline_supported"] = psycopg.Pipeline.is_supported()
    if out["pipeline_supported"]:
        with conn.pipeline():
            curs = [conn.execute("SELECT %s::int * 2", (i,)) for i in range(20)]
            conn.execute("INSERT INTO items (id, name) VALUES (%s, %s)", (100, "pipelined"))
        out["pipeline"] = [c.fetchone()[0] for c in curs]
    out["final_count"] = conn.execute("SELECT count(*) FROM items").fetchone()[0]

print(json.dumps(out))
