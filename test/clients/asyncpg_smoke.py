"""asyncpg through the gateway: prints one JSON document the vitest test checks.

asyncpg speaks only the extended protocol, asks for binary results, prepares named
statements, pipelines executemany, pages cursors with Execute row counts and copies in
the binary COPY format: the hardest common client for a proxy that reads the stream.

Usage: asyncpg_smoke.py HOST PORT DATABASE  (the token comes in PGPASSWORD)
"""
import asyncio
import json
import os
import sys

try:
    import asyncpg
except ImportError as e:  # the test turns this into a failure with a clear message
    print(json.dumps({"error": "asyncpg not importable: %s" % e}))
    sys.exit(3)


async def main():
    host, port, database = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = {"version": asyncpg.__version__}
    # ssl left at asyncpg's default ('prefer'): the gateway answers the SSLRequest with 'N'.
    conn = await asyncpg.connect(
        host=host,
        port=port,
        user="agent-1",
        database=database,
        password=os.environ["PGPASSWORD"],
        command_timeout=20,
    )
    try:
        row = await conn.fetchrow("SELECT $1::int + 1 AS n, $2::text AS s, $3::numeric AS d", 41, "snow ☃", 1.5)
        out["params"] = [row["n"], row["s"], str(row["d"])]

        await conn.executemany("INSERT INTO items (id, name) VALUES ($1, $2)", [(i, "n%d" % i) for i in range(1, 11)])
        out["executemany_count"] = await conn.fetchval("SELECT count(*) FROM items")

        async with conn.transaction():
            await conn.execute("UPDATE items SET name = 'committed' WHERE id = 1")
        try:
            async with conn.transaction():
                await conn.execute("UPDATE items SET name = 'rolled back' WHERE id = 2")
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        out["tx"] = [r["name"] for r in await conn.fetch("SELECT name FROM items WHERE id IN (1, 2) ORDER BY id")]

        # A named prepared statement, run several times.
        stmt = await conn.prepare("SELECT name FROM items WHERE id = $1")
        out["prepared"] = [await stmt.fetchval(i) for i in (3, 4, 5)]

        # A cursor paged by Execute row counts (PortalSuspended between pages).
        async with conn.transaction():
            cur = await conn.cursor("SELECT id FROM items ORDER BY id")
            first = await cur.fetch(4)
            second = await cur.fetch(4)
        out["cursor_pages"] = [[r["id"] for r in first], [r["id"] for r in second]]

        # Binary COPY in, COPY out.
        await conn.copy_records_to_table("items", records=[(200 + i, "copied %d" % i) for i in range(50)])
        out["copied_in"] = await conn.fetchval("SELECT count(*) FROM items WHERE id >= 200")
        chunks = []

        async def sink(data):
            chunks.append(bytes(data))

        await conn.copy_from_query("SELECT id, name FROM items WHERE id < 4 ORDER BY id", output=sink, format="csv")
        out["copied_out"] = b"".join(chunks).decode()

        # Errors carry the SQLSTATE and leave the connection usable.
        try:
            await conn.execute("SELEC broken")
        except asyncpg.PostgresError as e:
            out["syntax_error"] = e.sqlstate
        try:
            await conn.fetchval("SELECT 1 / $1::int", 0)
        except asyncpg.PostgresError as e:
            out["runtime_error"] = e.sqlstate
        try:
            await conn.fetch("SELECT * FROM secrets WHERE id = $1", 1)
        except asyncpg.PostgresError as e:
            out["refused"] = [e.sqlstate, str(e)]
        out["after_error"] = await conn.fetchval("SELECT 'ok'")

        # LISTEN / NOTIFY through the gateway.
        got = asyncio.get_running_loop().create_future()
        await conn.add_listener("events", lambda *args: got.done() or got.set_result(args[3]))
        await conn.execute("NOTIFY events, 'hello'")
        out["notify"] = await asyncio.wait_for(got, 5)

        out["final_count"] = await conn.fetchval("SELECT count(*) FROM items")
    finally:
        await conn.close()
    print(json.dumps(out))


asyncio.run(asyncio.wait_for(main(), 45))
