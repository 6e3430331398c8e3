// nextval, setval and currval name their relation by a string that PostgreSQL reads as a
// regclass: unquoted names folded to lower case, double quotes, spaces around the dot, and
// a string of digits is an OID. The facts must name the relation PostgreSQL uses, or say
// they cannot (opaque). Before, the text was split at its dots as written:
// nextval('ORDERS_ID_SEQ') was listed as a sequence "ORDERS_ID_SEQ", nextval('16384') as
// one named "16384" (PostgreSQL uses the relation with that OID, whatever it is), and
// nextval('public.orders_id_seq_x'::varchar(20)) as orders_id_seq_x while PostgreSQL
// uses orders_id_seq: a policy allowing one sequence (or denying one relation) was
// deciding on another name than the one PostgreSQL locked and wrote.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, freshDatabase } from '../../test/helpers/gateway.js';
import { analyze, initSql } from './index.js';

const DB = 'sequence_names';
let client: pg.Client;

beforeAll(async () => {
  await initSql();
  await freshDatabase(
    DB,
    'CREATE SEQUENCE orders_id_seq; CREATE SEQUENCE orders_id_seq_x; ' +
      'CREATE SEQUENCE "Mixed_Seq"; CREATE SCHEMA "a.b"; CREATE SEQUENCE "a.b".c',
  );
  client = await adminClient(DB);
});

afterAll(async () => {
  await client?.end();
});

function facts(arg: string) {
  const r = analyze(`SELECT nextval(${arg})`, { searchPath: ['public'], database: DB });
  expect(r.error).toBeUndefined();
  return r.statements[0];
}

/** The relation PostgreSQL's nextval uses for this argument, as schema.name. */
async function used(arg: string): Promise<string> {
  const r = await client.query<{ n: string }>(
    `SELECT n.nspname || '.' || c.relname AS n FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = (${arg})::regclass`,
  );
  // It really runs as nextval's argument too.
  await client.query(`SELECT nextval(${arg})`);
  return r.rows[0].n;
}

describe('the sequence a nextval string names is the one PostgreSQL uses', () => {
  for (const arg of [
    "'ORDERS_ID_SEQ'",
    `'"orders_id_seq"'`,
    "' orders_id_seq '",
    `'Public . "Mixed_Seq"'`,
    `'"a.b".c'`,
    "'orders_id_seq'::text::regclass",
    `'orders_id_seq' COLLATE "C"`,
    "'orders_id_seq'::unknown",
  ]) {
    it(arg, async () => {
      const pgName = await used(arg);
      const f = facts(arg);
      expect(f.opaque).toBe(false);
      expect(f.relations.map((r) => `${r.schema}.${r.name}`)).toEqual([pgName]);
      expect(f.relations[0]).toMatchObject({ kind: 'sequence', access: 'write' });
    });
  }
});

describe('a string the gateway cannot read as PostgreSQL does is opaque, naming nothing', () => {
  it('a string of digits: the relation with that OID', async () => {
    const oid = (await client.query<{ o: string }>("SELECT 'orders_id_seq'::regclass::oid AS o"))
      .rows[0].o;
    const arg = `'${oid}'`;
    expect(await used(arg)).toBe('public.orders_id_seq');
    const f = facts(arg);
    expect(f.opaque).toBe(true);
    expect(f.relations).toEqual([]);
  });

  it('a cast that cuts the text (varchar(20))', async () => {
    const arg = "'public.orders_id_seq_x'::varchar(20)";
    expect(await used(arg)).toBe('public.orders_id_seq');
    const f = facts(arg);
    expect(f.opaque).toBe(true);
    expect(f.relations).toEqual([]);
  });

  it('three parts (database.schema.name)', async () => {
    const arg = `'${DB}.public.orders_id_seq'`;
    expect(await used(arg)).toBe('public.orders_id_seq');
    expect(facts(arg).opaque).toBe(true);
  });
});
