// The gateway's view of prepared statements, portals and cursors must be PostgreSQL's: a
// Parse, PREPARE or DECLARE that PostgreSQL skipped (after an earlier error in its batch)
// or refused (the name exists) must not change what the gateway decides a later Bind,
// EXECUTE or FETCH by. Each case below let a limited statement run without its limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freshDatabase,
  gatewayClient,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  bind,
  close,
  execute,
  parse,
  rows,
  sync,
  type Message,
  type RawClient,
  errorCodes,
} from './helpers/raw.js';

const DB = 'statement_names_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE big AS SELECT g FROM generate_series(1, 50) g; CREATE TABLE small AS SELECT g FROM generate_series(1, 50) g; CREATE TABLE forbidden (g int);',
  );
  // Results reading `big` are limited to 5 rows; `small` is not limited.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/names.rego'] } });
});
afterAll(async () => g?.stop());

/** The answer to a statement that reads all of `big`: cut at its limit. */
async function expectLimited(c: RawClient, ms: Message[]): Promise<void> {
  expect(rows(ms).length).toBeLessThanOrEqual(5);
  expect(errorCodes(ms)).toEqual(['54000']);
  if (ms.at(-1)?.type !== 'Z') await c.until('Z');
}

describe('statement names follow what PostgreSQL did', () => {
  it('an unnamed Parse skipped after an error does not replace the unnamed statement', async () => {
    const c = await rawLogin(g, DB);
    // The first statement fails at Execute: PostgreSQL skips the second Parse.
    await c.write(
      Buffer.concat([
        parse('', 'SELECT g FROM big WHERE 1 / $1::int > 0'),
        bind('', '', ['0']),
        execute(),
        parse('', 'SELECT g FROM small'),
        sync(),
      ]),
    );
    expect(errorCodes(await c.until('Z'))).toEqual(['22012']);
    // The unnamed statement upstream is still the one reading `big`.
    await c.write(Buffer.concat([bind('', '', ['1']), execute(), sync()]));
    await expectLimited(c, await c.until('Z'));
    c.destroy();
  });

  it('a Parse of a name that exists is refused upstream and changes nothing', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([parse('n', 'SELECT g FROM big'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    await c.write(Buffer.concat([parse('n', 'SELECT g FROM small'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual(['42P05']);
    await c.write(Buffer.concat([bind('', 'n'), execute(), sync()]));
    await expectLimited(c, await c.until('Z'));
    c.destroy();
  });

  it('a SQL PREPARE of a name that exists changes nothing', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('PREPARE q AS SELECT g FROM big'))).toEqual([]);
    expect(errorCodes(await c.simple('PREPARE q AS SELECT g FROM small'))).toEqual(['42P05']);
    await expectLimited(c, await c.simple('EXECUTE q'));
    // By protocol Bind too.
    await c.write(Buffer.concat([bind('', 'q'), execute(), sync()]));
    await expectLimited(c, await c.until('Z'));
    c.destroy();
  });

  it('a DECLARE of a cursor that exists, or one skipped after an error, changes nothing', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('DECLARE c CURSOR WITH HOLD FOR SELECT g FROM big'))).toEqual(
      [],
    );
    expect(
      errorCodes(await c.simple('DECLARE c CURSOR WITH HOLD FOR SELECT g FROM small')),
    ).toEqual(['42P03']);
    expect(
      errorCodes(await c.simple('BEGIN; SELECT 1 / 0; DECLARE c CURSOR FOR SELECT g FROM small')),
    ).toEqual(['22012']);
    await c.simple('ROLLBACK');
    await expectLimited(c, await c.simple('FETCH ALL FROM c'));
    c.destroy();
  });

  it('a protocol Execute of SQL EXECUTE runs under what the name holds when it runs', async () => {
    const c = await rawLogin(g, DB);
    await c.simple('PREPARE q2 AS SELECT g FROM small');
    await c.write(Buffer.concat([parse('e', 'EXECUTE q2'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    await c.simple('DEALLOCATE q2');
    await c.simple('PREPARE q2 AS SELECT g FROM big');
    await c.write(Buffer.concat([bind('', 'e'), execute(), sync()]));
    await expectLimited(c, await c.until('Z'));
    // Gone again: PostgreSQL's own error, at the Execute.
    await c.simple('DEALLOCATE q2');
    await c.write(Buffer.concat([bind('', 'e'), execute(), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual(['26000']);
    c.destroy();
  });

  it('a group naming a statement parsed in an earlier group waits for that answer', async () => {
    const c = await rawLogin(g, DB);
    // Sent in one write: the second group's Bind of n2 is decided once the first is answered.
    await c.write(
      Buffer.concat([
        parse('n2', 'SELECT g FROM small WHERE g <= $1::int'),
        bind('', 'n2', ['2']),
        execute(),
        sync(),
        bind('', 'n2', ['3']),
        execute(),
        sync(),
      ]),
    );
    expect(rows(await c.until('Z'))).toEqual([['1'], ['2']]);
    expect(rows(await c.until('Z'))).toEqual([['1'], ['2'], ['3']]);
    // The same when the Parse was skipped: the later Bind fails as PostgreSQL's would.
    await c.write(
      Buffer.concat([
        parse('', 'SELECT 1 / 0'),
        bind('', ''),
        execute(),
        parse('n3', 'SELECT g FROM small'),
        sync(),
        bind('', 'n3'),
        execute(),
        sync(),
      ]),
    );
    expect(errorCodes(await c.until('Z'))).toEqual(['22012']);
    expect(errorCodes(await c.until('Z'))).toEqual(['26000']);
    c.destroy();
  });

  it("a refused group leaves the client's unnamed statement in place", async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([parse('', 'SELECT g FROM small WHERE g = 2'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    await c.write(Buffer.concat([parse('x', 'SELECT g FROM forbidden'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual(['42501']);
    await c.write(Buffer.concat([bind('', ''), execute(), sync()]));
    expect(rows(await c.until('Z'))).toEqual([['2']]);
    c.destroy();
  });

  it('node pg in pipeline mode with named statements', async () => {
    const c = await gatewayClient(g, DB, { pg: { pipeline: true } });
    const q = (n: number) =>
      c.query({ name: 'byid', text: 'SELECT g FROM small WHERE g = $1::int', values: [n] });
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => q(i + 1)));
    expect(all.map((r) => r.rows[0].g)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const limited = c.query({ name: 'bigall', text: 'SELECT g FROM big' });
    const again = c.query({ name: 'bigall', text: 'SELECT g FROM big' });
    await expect(limited).rejects.toMatchObject({ code: '54000' });
    await expect(again).rejects.toMatchObject({ code: '54000' });
    expect((await q(7)).rows).toEqual([{ g: 7 }]);
    await c.end();
  });

  describe('names longer than PostgreSQL keeps (63 bytes)', () => {
    // PostgreSQL keys statements and portals by their first 63 bytes: names that share them
    // are one name upstream, and must be one name to the gateway.
    const long = (c: string, tail: string) => c.repeat(63) + tail;

    it('a Close and Parse of another name with the same first 63 bytes replaces the statement', async () => {
      const c = await rawLogin(g, DB);
      const [a, b] = [long('x', 'A'), long('x', 'B')];
      await c.write(Buffer.concat([parse(a, 'SELECT g FROM small'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      await c.write(Buffer.concat([close('S', b), parse(b, 'SELECT g FROM big'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      // Upstream, `a` is now the statement reading `big`.
      await c.write(Buffer.concat([bind('', a), execute(), sync()]));
      await expectLimited(c, await c.until('Z'));
      c.destroy();
    });

    it('a Close and Bind of another portal name with the same first 63 bytes replaces the portal', async () => {
      const c = await rawLogin(g, DB);
      const [a, b] = [long('p', 'A'), long('p', 'B')];
      await c.write(
        Buffer.concat([
          parse('s', 'SELECT g FROM small'),
          parse('b', 'SELECT g FROM big'),
          bind(a, 's'),
          close('P', b),
          bind(b, 'b'),
          execute(a),
          sync(),
        ]),
      );
      await expectLimited(c, await c.until('Z'));
      c.destroy();
    });

    it('a name cut through a character is one name with every name sharing its bytes, and only those', async () => {
      const c = await rawLogin(g, DB);
      // 62 bytes, then a two-byte character whose first byte is the 63rd.
      const [a, b] = [long('y', '').slice(1) + 'é' + 'A', long('y', '').slice(1) + 'é' + 'B'];
      const other = long('y', '').slice(1) + 'ü';
      await c.write(Buffer.concat([parse(a, 'SELECT g FROM small'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      // 'ü' starts with the same byte as 'é' (0xc3): the same name upstream.
      await c.write(Buffer.concat([parse(other, 'SELECT 1'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual(['42P05']);
      await c.write(Buffer.concat([close('S', b), parse(b, 'SELECT g FROM big'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      await c.write(Buffer.concat([bind('', a), execute(), sync()]));
      await expectLimited(c, await c.until('Z'));
      // A name whose 63rd byte differs ('€' starts with 0xe2) is another name.
      const apart = long('y', '').slice(1) + '€';
      await c.write(Buffer.concat([bind('', apart), execute(), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual(['26000']);
      c.destroy();
    });
  });
});
