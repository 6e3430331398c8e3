// The repository's default policies.rego with real drivers as a new user runs them, with
// their default settings: the catalog lookups they make on their own (postgres.js's type
// fetch at connect, asyncpg's type introspection and pool reset, psycopg's TypeInfo,
// pgjdbc's isolation level and metadata, psql's \d) are allowed; what is not metadata
// (other sessions' activity, password hashes) stays refused.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import {
  freshDatabase,
  gatewayClient,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { run } from './helpers/spawn.js';
import { setLogSink } from '../src/util/logger.js';

const DB = 'dp_default_policy';
const PYTHON = '/usr/bin/python3';
const JAR = '/usr/share/java/postgresql.jar';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TYPE mood AS ENUM ('calm', 'busy');
     CREATE TABLE kind (id int PRIMARY KEY);
     INSERT INTO kind VALUES (1);
     CREATE SEQUENCE gear_seq;
     CREATE TABLE gear (id int PRIMARY KEY, mood mood NOT NULL, sizes int[] NOT NULL, tags text[],
                        kind int REFERENCES kind);
     INSERT INTO gear VALUES (1, 'calm', '{1,2,3}', '{a,b}'), (2, 'busy', '{4}', NULL);`,
  );
  g = await startTestGateway(DB, { policy: { files: ['policies.rego'] } });
});
afterAll(async () => g?.stop());

/** A node-postgres client as `sub` in `groups` (a reader: agents; a writer: writers). */
async function connect(sub: string, groups: string[]): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: g.port,
    user: sub,
    database: DB,
    password: await g.token(sub, groups),
  });
  await c.connect();
  return c;
}

describe('the default policy with drivers as they come', () => {
  it('postgres.js connects with its type fetch on and decodes arrays', async () => {
    const sql = postgres({
      host: '127.0.0.1',
      port: g.port,
      user: 'agent-1',
      database: DB,
      pass: await g.token(),
      max: 1,
      onnotice: () => undefined,
    });
    try {
      const rows = await sql`SELECT id, mood, sizes, tags FROM gear WHERE id = ${1}`;
      expect(rows).toEqual([{ id: 1, mood: 'calm', sizes: [1, 2, 3], tags: ['a', 'b'] }]);
      // A set-returning function in FROM is judged as the function it is.
      const s = await sql`SELECT x FROM generate_series(1, ${3}::int) x`;
      expect(s.map((r) => r.x)).toEqual([1, 2, 3]);
    } finally {
      await sql.end();
    }
  });

  it('asyncpg introspects array and enum types, and its pool resets connections', async () => {
    const script = `
import asyncio, json, sys
import asyncpg
async def main():
    pool = await asyncpg.create_pool(host='127.0.0.1', port=int(sys.argv[1]), database=sys.argv[2],
        user='agent-1', password=sys.argv[3], ssl=False, min_size=1, max_size=1)
    out = []
    for _ in range(3):
        rows = await pool.fetch('SELECT sizes, mood::text AS mood, array_agg(id) OVER () AS ids FROM gear ORDER BY id')
        out.append([list(rows[0]['sizes']), rows[0]['mood'], list(rows[0]['ids'])])
    async with pool.acquire() as c:
        out.append(await c.fetchval('SELECT $1::mood::text', 'busy'))
    await pool.close()
    print(json.dumps(out))
asyncio.run(main())
`;
    const r = await run(PYTHON, ['-c', script, String(g.port), DB, await g.token()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      [[1, 2, 3], 'calm', [1, 2]],
      [[1, 2, 3], 'calm', [1, 2]],
      [[1, 2, 3], 'calm', [1, 2]],
      'busy',
    ]);
  });

  it("psycopg's TypeInfo and EnumInfo read the type catalogs", async () => {
    const script = `
import json, sys
import psycopg
from psycopg.types import TypeInfo
from psycopg.types.enum import EnumInfo, register_enum
with psycopg.connect(host='127.0.0.1', port=sys.argv[1], dbname=sys.argv[2], user='agent-1',
                     password=sys.argv[3], sslmode='disable') as c:
    t = TypeInfo.fetch(c, 'mood')
    e = EnumInfo.fetch(c, 'mood')
    register_enum(e, c)
    m = c.execute('SELECT mood FROM gear WHERE id = 2').fetchone()[0]
    print(json.dumps([t.name, e.labels, m.name]))
`;
    const r = await run(PYTHON, ['-c', script, String(g.port), DB, await g.token()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['mood', ['calm', 'busy'], 'busy']);
  });

  it('pgjdbc sets the isolation level and reads metadata, enums and arrays', async () => {
    if (!existsSync(JAR)) throw new Error(`${JAR} missing: install libpostgresql-jdbc-java`);
    const url = `jdbc:postgresql://127.0.0.1:${g.port}/${DB}`;
    const r = await run('java', ['-cp', JAR, 'test/clients/JdbcDefaultPolicy.java', url], {
      env: { PGPASSWORD: await g.token() },
      timeoutMs: 90_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      isolation: 'serializable',
      tables: ['gear', 'kind'],
      columns: ['id', 'mood', 'sizes', 'tags', 'kind'],
      importedKeys: ['kind'],
      mood: 'calm',
      sizes: [1, 2, 3],
    });
  });

  it("Sequelize's describeTable reads names from pg_statio_all_tables; writers draw sequence values", async () => {
    // Sequelize 6's own text: it joins the statistics view only to map a relid to its name.
    const DESCRIBE =
      'SELECT pk.constraint_type as "Constraint",c.column_name as "Field", c.column_default as "Default",c.is_nullable as "Null", (CASE WHEN c.udt_name = \'hstore\' THEN c.udt_name ELSE c.data_type END) || (CASE WHEN c.character_maximum_length IS NOT NULL THEN \'(\' || c.character_maximum_length || \')\' ELSE \'\' END) as "Type", (SELECT array_agg(e.enumlabel) FROM pg_catalog.pg_type t JOIN pg_catalog.pg_enum e ON t.oid=e.enumtypid WHERE t.typname=c.udt_name) AS "special", (SELECT pgd.description FROM pg_catalog.pg_statio_all_tables AS st INNER JOIN pg_catalog.pg_description pgd on (pgd.objoid=st.relid) WHERE c.ordinal_position=pgd.objsubid AND c.table_name=st.relname) AS "Comment" FROM information_schema.columns c LEFT JOIN (SELECT tc.table_schema, tc.table_name, cu.column_name, tc.constraint_type FROM information_schema.TABLE_CONSTRAINTS tc JOIN information_schema.KEY_COLUMN_USAGE  cu ON tc.table_schema=cu.table_schema and tc.table_name=cu.table_name and tc.constraint_name=cu.constraint_name and tc.constraint_type=\'PRIMARY KEY\') pk ON pk.table_schema=c.table_schema AND pk.table_name=c.table_name AND pk.column_name=c.column_name WHERE c.table_name = \'gear\' AND c.table_schema = \'public\'';
    const reader = await connect('agent-1', ['agents']);
    const writer = await connect('etl', ['writers']);
    try {
      const fields = (await reader.query(DESCRIBE)).rows.map((r: { Field: string }) => r.Field);
      expect(fields.sort()).toEqual(['id', 'kind', 'mood', 'sizes', 'tags']);
      // The view's counters stay refused.
      await expect(
        reader.query('SELECT relname, heap_blks_read FROM pg_catalog.pg_statio_all_tables'),
      ).rejects.toMatchObject({ code: '42501' });
      // Hibernate-style ids: a writer's nextval, not a reader's.
      const a = (await writer.query("SELECT nextval('gear_seq') AS n")).rows[0].n;
      expect(Number((await writer.query("SELECT nextval('gear_seq') AS n")).rows[0].n)).toBe(
        Number(a) + 1,
      );
      await expect(reader.query("SELECT nextval('gear_seq')")).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await reader.end();
      await writer.end();
    }
  });

  it('holds for approval a write of every row that its WHERE or VALUES only seems to bound', async () => {
    const writer = await connect('etl', ['writers']);
    try {
      const held = { code: '42501', message: expect.stringContaining('requires approval') };
      for (const sql of [
        // The WHERE names another reference to the table, not the rows written.
        'DELETE FROM kind q USING kind z WHERE z.id = 1',
        'UPDATE gear q SET tags = NULL FROM gear z WHERE z.id = 1',
        // … or another table's column only.
        "DELETE FROM kind WHERE EXISTS (SELECT 1 FROM gear WHERE mood = 'calm')",
        "DELETE FROM kind USING gear WHERE mood = 'calm'",
        // One VALUES row that a set-returning function makes many.
        "INSERT INTO gear VALUES (unnest(ARRAY(SELECT id FROM gear)), 'calm', '{}') ON CONFLICT (id) DO UPDATE SET tags = NULL",
        "INSERT INTO gear VALUES ((ARRAY(SELECT id FROM gear)).unnest, 'calm', '{}') ON CONFLICT (id) DO UPDATE SET tags = NULL",
      ])
        await expect(writer.query(sql), sql).rejects.toMatchObject(held);
      expect((await writer.query('SELECT count(*)::int AS n FROM kind')).rows[0].n).toBe(1);
      expect(
        (await writer.query('SELECT count(*)::int AS n FROM gear WHERE tags IS NULL')).rows[0].n,
      ).toBe(1);
      // Bounded through the rows' own name: runs; so does a column that the catalog shows
      // only the table written has (kind is gear's, not kind's).
      await writer.query(
        'UPDATE gear q SET tags = q.tags FROM gear z WHERE q.id = z.id AND z.id = 1',
      );
      await writer.query('UPDATE gear SET tags = tags FROM kind k WHERE kind = k.id AND k.id = 1');
    } finally {
      await writer.end();
    }
  });

  it('what Rails, Laravel, PDO and DBD::Pg send at connect and around writes', async () => {
    const reader = await connect('agent-1', ['agents']);
    const writer = await connect('etl', ['writers']);
    try {
      const pinned = (await reader.query('SHOW search_path')).rows[0].search_path;
      for (const c of [reader, writer]) {
        // ActiveRecord's `encoding: unicode`, Laravel's charset and schema, RPostgreSQL's
        // encoding before a COPY: the values the gateway pins, so they change nothing.
        for (const sql of [
          "set client_encoding to 'unicode'",
          // PostgreSQL reports this one spelling back as it is (PHP's manual example).
          "SET NAMES 'UNICODE'",
          "set names 'utf8'",
          "SET CLIENT_ENCODING TO 'UTF8'",
          'set search_path to "public"',
          'SET search_path TO public',
          'SET SESSION statement_timeout TO DEFAULT',
        ])
          await c.query(sql);
        expect((await c.query('SHOW client_encoding')).rows[0].client_encoding).toBe('UTF8');
        expect((await c.query('SHOW search_path')).rows[0].search_path).toBe(pinned);
        // DBD::Pg's foreign_key_info reads a compile-time constant.
        expect((await c.query("SELECT current_setting('max_index_keys') AS k")).rows[0].k).toMatch(
          /^\d+$/,
        );
        // ActiveRecord's `variables:` may lower the idle timeout the gateway pins, not raise it.
        const idle = 'SHOW idle_in_transaction_session_timeout';
        await c.query("SET SESSION idle_in_transaction_session_timeout TO '60s'");
        expect((await c.query(idle)).rows[0].idle_in_transaction_session_timeout).toBe('1min');
        await expect(
          c.query("SET idle_in_transaction_session_timeout = '10min'"),
        ).rejects.toMatchObject({ code: '42501' });
        await c.query('RESET idle_in_transaction_session_timeout');
        expect((await c.query(idle)).rows[0].idle_in_transaction_session_timeout).toBe('5min');
        // Any other value still changes what names mean, or how text is read.
        for (const sql of [
          'SET search_path TO public, pg_temp',
          "SET search_path TO 'Public'",
          "set client_encoding to 'latin1'",
        ])
          await expect(c.query(sql)).rejects.toMatchObject({ code: '42501' });
      }
      // currval locks the relation it names as a write does (even one that is not a
      // sequence), so a reader may not call it, and a name given at run time (PDO's
      // lastInsertId('seq') sends currval($1)) is refused; lastval() reads the same value.
      const n = (await writer.query("SELECT nextval('gear_seq') AS n")).rows[0].n;
      expect((await writer.query("SELECT currval('gear_seq') AS c")).rows[0].c).toBe(n);
      expect((await writer.query('SELECT lastval() AS c')).rows[0].c).toBe(n);
      await expect(writer.query('SELECT CURRVAL($1)', ['gear_seq'])).rejects.toMatchObject({
        code: '42501',
      });
      await expect(reader.query("SELECT currval('kind')")).rejects.toMatchObject({
        code: '42501',
      });
      // An empty IN list, as ActiveRecord, Laravel, Sequel and DBIx::Class write it, writes
      // no row; WHERE 1 = 1 may write every row and needs approval.
      expect((await writer.query('DELETE FROM "kind" WHERE 1=0')).rowCount).toBe(0);
      expect((await writer.query('UPDATE kind SET id = $1 WHERE 0 = 1', [5])).rowCount).toBe(0);
      // So does a WHERE that names a column but may be true whatever the row.
      for (const sql of [
        'DELETE FROM kind WHERE 1=1',
        'DELETE FROM kind WHERE id = 7 OR true',
        'DELETE FROM kind WHERE NOT (id = 7 AND 1 = 0)',
        "DELETE FROM kind WHERE id = 7 OR 'a' = 'a'",
        'DELETE FROM kind WHERE id = 7 OR 10000000000 > 0',
      ])
        await expect(writer.query(sql), sql).rejects.toMatchObject({
          code: '42501',
          message: expect.stringContaining('approval'),
        });
      expect((await writer.query('SELECT count(*)::int AS n FROM kind')).rows[0].n).toBe(1);
    } finally {
      await reader.end();
      await writer.end();
    }
  });

  it("lib/pq's BEGIN READ WRITE: a reader's where transactions are read-write anyway, not where the session began read-only", async () => {
    const reader = await connect('agent-1', ['agents']);
    try {
      await reader.query('BEGIN READ WRITE');
      expect((await reader.query('SELECT count(*)::int AS n FROM kind')).rows[0].n).toBe(1);
      await reader.query('COMMIT');
      // Its own later transactions it may make read-only, not read-write again.
      await reader.query('SET default_transaction_read_only = on');
      await expect(reader.query('SET default_transaction_read_only = off')).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await reader.end();
    }
    // A session that began read-only (as under ALTER ROLE … SET default_transaction_read_only
    // = on; here the client asked for it at login) stays so for a reader.
    const c = new pg.Client({
      host: '127.0.0.1',
      port: g.port,
      user: 'agent-1',
      database: DB,
      password: await g.token('agent-1', ['agents']),
      options: '-c default_transaction_read_only=on',
    });
    await c.connect();
    try {
      for (const sql of [
        'BEGIN READ WRITE',
        'START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE',
      ])
        await expect(c.query(sql), sql).rejects.toMatchObject({
          code: '42501',
          message: expect.stringContaining('reserved for writers'),
        });
      await expect(
        c.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE'),
      ).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('SHOW transaction_read_only')).rows).toEqual([
        { transaction_read_only: 'on' },
      ]);
    } finally {
      await c.end();
    }
  });

  it('an empty query in the extended protocol, prepared once and bound again, answers as PostgreSQL does', async () => {
    const c = await connect('agent-1', ['agents']);
    try {
      // node-postgres sends Parse the first time, then only Bind and Execute.
      for (let i = 0; i < 2; i++) {
        const r = await c.query({ name: 'nothing', text: '', values: [] });
        expect(r.rows).toEqual([]);
      }
      await c.query('BEGIN');
      expect((await c.query({ name: 'nothing', text: '', values: [] })).rows).toEqual([]);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
  });

  it("psql's \\dt and \\d describe the schema", async () => {
    const r = await run('psql', [g.conninfo(DB), '-X', '-c', '\\dt', '-c', '\\d gear'], {
      env: { PGPASSWORD: await g.token() },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/public\s+\|\s+gear\s+\|\s+table/);
    expect(r.stdout).toMatch(/sizes\s+\|\s+integer\[\]/);
  });

  it('RESET ALL keeps the settings the gateway pins; what is not metadata stays refused', async () => {
    const c = await gatewayClient(g, DB);
    try {
      const pinned = (await c.query('SHOW search_path')).rows[0].search_path;
      // A session idle in a transaction is ended after 5 minutes by default, and the
      // default policy does not let an agent lengthen that.
      const idle = 'SHOW idle_in_transaction_session_timeout';
      expect((await c.query(idle)).rows[0].idle_in_transaction_session_timeout).toBe('5min');
      await expect(c.query("SET idle_in_transaction_session_timeout = '1d'")).rejects.toMatchObject(
        { code: '42501' },
      );
      await expect(c.query('SET statement_timeout = 0.4')).rejects.toMatchObject({
        code: '42501',
      });
      await c.query("SET application_name = 'x'");
      await c.query('RESET ALL');
      expect((await c.query('SHOW search_path')).rows[0].search_path).toBe(pinned);
      expect((await c.query(idle)).rows[0].idle_in_transaction_session_timeout).toBe('5min');
      expect((await c.query('SHOW standard_conforming_strings')).rows[0]).toEqual({
        standard_conforming_strings: 'on',
      });
      const logs: string[] = [];
      setLogSink((l) => logs.push(l));
      try {
        await expect(c.query("SELECT 'hunter2' FROM pg_authid")).rejects.toMatchObject({
          code: '42501',
        });
      } finally {
        setLogSink((l) => process.stderr.write(l + '\n'));
      }
      // The operator's log names the refusal and the policy's reasons, never the statement.
      const refused = logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'statement refused');
      expect(refused).toMatchObject({
        sub: 'agent-1',
        decision: 'deny',
        reasons: ['reading pg_catalog.pg_authid is not allowed'],
      });
      expect(logs.join('\n')).not.toContain('hunter2');
      for (const sql of [
        'SELECT query FROM pg_stat_activity',
        'SELECT pg_stat_get_activity(NULL)',
        'SELECT rolname, rolpassword FROM pg_authid',
        'SELECT rolname, rolconfig FROM pg_roles',
        'SELECT * FROM pg_stats',
        'SELECT pg_advisory_lock(1)',
        'SHOW ALL',
        "SELECT current_setting('restore_command')",
        'LISTEN events',
        'DECLARE c CURSOR WITH HOLD FOR SELECT 1',
      ])
        await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.end();
    }
  });
});
