"""psycopg2 through the gateway: prints one JSON document the vitest test checks.

psycopg2 interpolates parameters on the client and sends simple-protocol queries; it
opens transactions implicitly, pages named (server-side) cursors with DECLARE/FETCH and
copies with COPY ... FROM STDIN / TO STDOUT.

Usage: psycopg2_smoke.py CONNINFO  (the token comes in PGPASSWORD)
"""
import io
import json
import sys

try:
    import psycopg2
    import psycopg2.extras
except ImportError as e:  # the test turns this into a failure with a clear message
    print(json.dumps({"error": "psycopg2 not importable: %s" % e}))
    sys.exit(3)

out = {"version": psycopg2.__version__.split(" ")[0]}
conn = psycopg2.connect(sys.argv[1], connect_timeout=10)
try:
    cur = conn.cursor()
    cur.execute("SELECT %s::int + 1, %s::text, %s", (41, "snow ☃", "it's quoted"))
    out["params"] = list(cur.fetchone())

    psycopg2.extras.execute_values(
        cur, "INSERT INTO items (id, name) VALUES %s", [(i, "n%d" % i) for i in range(1, 11)]
    )
    conn.commit()
    cur.execute("SELECT count(*) FROM items")
    out["inserted"] = cur.fetchone()[0]

    # Implicit transaction rolled back: the row is not there afterwards.
    cur.execute("UPDATE items SET name = 'rolled back' WHERE id = 2")
    conn.rollback()
    cur.execute("UPDATE items SET name = 'committed' WHERE id = 1")
    conn.commit()
    cur.execute("SELECT name FROM items WHERE id IN (1, 2) ORDER BY id")
    out["tx"] = [r[0] for r in cur.fetchall()]

    # A named cursor: DECLARE ... CURSOR, then FETCH FORWARD in pages.
    named = conn.cursor(name="pages")
    named.itersize = 3
    named.execute("SELECT id FROM items ORDER BY id")
    out["named_cursor"] = [r[0] for r in named]
    named.close()
    conn.commit()

    # COPY in and out.
    cur.copy_expert("COPY items (id, name) FROM STDIN", io.StringIO("".join("%d\tcopied %d\n" % (300 + i, i) for i in range(20))))
    conn.commit()
    buf = io.StringIO()
    cur.copy_expert("COPY (SELECT id, name FROM items WHERE id < 3 ORDER BY id) TO STDOUT WITH CSV", buf)
    out["copied_out"] = buf.getvalue()

    # A notice from the server reaches the client.
    cur.execute("DO $$ BEGIN RAISE NOTICE 'hello from the server'; END $$")
    conn.commit()
    out["notices"] = [n.strip() for n in conn.notices]

    # Errors carry the SQLSTATE; after a rollback the connection is usable.
    try:
        cur.execute("SELECT 1 / 0")
    except psycopg2.Error as e:
        out["runtime_error"] = e.pgcode
    conn.rollback()
    try:
        cur.execute("SELEC broken")
    except psycopg2.Error as e:
        out["syntax_error"] = e.pgcode
    conn.rollback()
    cur.execute("SELECT count(*) FROM items")
    out["final_count"] = cur.fetchone()[0]
finally:
    conn.close()
print(json.dumps(out))
