// A Bind runs code in PostgreSQL before any Execute: a parameter of a domain type is checked
// by the domain's CHECK when it is bound, and that CHECK may call a volatile function with
// effects; an immutable function is folded when Bind plans the statement. A client that
// sends Parse, Bind, Sync (no Execute) makes PostgreSQL run it (here: a row inserted into
// `side`, holding the bound value). Before, the recording held nothing about it: no
// statement event, no parameter, and it ran with the spool broken too (write-ahead was
// never asked). Such a Bind is now recorded ahead like a statement, its outcome unknown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, bind, execute, parse, sync } from './helpers/raw.js';

const DB = 'recording_bind_runs_code';
let rec: RecordedGateway;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE side (v text);
     CREATE FUNCTION note(x text) RETURNS boolean LANGUAGE plpgsql VOLATILE
       AS $$ BEGIN INSERT INTO side VALUES (x); RETURN true; END $$;
     CREATE DOMAIN noted AS text CHECK (note(VALUE));
     CREATE FUNCTION folded(x text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
       AS $$ BEGIN RETURN note(x); END $$;`,
  );
  rec = await startRecordedGateway(DB);
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

/** Send `bytes` as `sub` and read the answer; the session's statement events once it ended. */
async function statementsOf(sub: string, bytes: Buffer): Promise<Record<string, unknown>[]> {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token(sub, ['agents']));
  await c.write(bytes);
  await c.until('Z');
  c.destroy();
  await rec.ended(sub);
  return rec.events().filter((e) => e.sub === sub && e.type === 'statement');
}

/** The statement_result of `sub`'s statement event `seq`. */
function resultOf(sub: string, seq: unknown): Record<string, unknown> | undefined {
  return rec
    .events()
    .find((e) => e.sub === sub && e.type === 'statement_result' && e.statement_seq === seq);
}

/** What the functions' inserts left in `side` (past the gateway). */
async function sideRows(): Promise<string[]> {
  const admin = await adminClient(DB);
  try {
    return (await admin.query<{ v: string }>('SELECT v FROM side')).rows.map((r) => r.v);
  } finally {
    await admin.end();
  }
}

describe('a Bind that runs code, with no Execute', () => {
  it('what it ran in PostgreSQL is in the recording, with its parameter', async () => {
    const statements = await statementsOf(
      'binder',
      Buffer.concat([parse('', 'SELECT $1::noted'), bind('', '', ['bound-only']), sync()]),
    );
    // PostgreSQL ran the domain's CHECK at Bind: the function's insert is committed.
    expect(await sideRows()).toEqual(['bound-only']);

    // The auditor finds that statement, and the value it was bound with, in the recording.
    const bound = statements.find((e) => String(e.sql).includes('$1::noted'));
    expect(bound, 'a statement event for the Bind that ran code').toBeDefined();
    expect(JSON.stringify(bound?.params ?? bound?.runs)).toContain('bound-only');
    // Nothing answers what a Bind ran on its own: its outcome is unknown, not ok.
    expect(resultOf('binder', bound?.seq)?.outcome).toBe('unknown');
  });

  it('a Bind an Execute runs is recorded once, with the Execute', async () => {
    const statements = await statementsOf(
      'executor',
      Buffer.concat([
        parse('', 'SELECT $1::noted'),
        bind('', '', ['bound-and-run']),
        execute(''),
        sync(),
      ]),
    );
    expect(statements).toHaveLength(1);
    expect(resultOf('executor', statements[0].seq)).toMatchObject({ outcome: 'ok', rows: 1 });
  });

  it('an immutable function folded when a Bind plans the statement: what it ran is recorded', async () => {
    const statements = await statementsOf(
      'folder',
      Buffer.concat([parse('', "SELECT folded('planned-only')"), bind('', ''), sync()]),
    );
    expect(await sideRows()).toContain('planned-only');
    expect(
      statements.some((e) => String(e.sql).includes('planned-only')),
      'a statement event for the Bind that ran code',
    ).toBe(true);
  });
});
