// The opa-wasm engine, run through the real @open-policy-agent/opa-wasm SDK on an OPA-ABI
// module (fixtures/decision.wat, the hand-compiled form of fixtures/decision.rego).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { contractInput, runEngineContract, type ContractSubject } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';
import { readTar, TarError, writeTar } from './tar.js';
import { builtinBridge } from './wasm-builtins.js';
import { wasmEngine, WasmPolicyError } from './wasm-engine.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const WASM = fixture('decision.wasm');
const WASM_ABI13 = fixture('decision-abi13.wasm');
const REGO = fixture('decision.rego').toString('utf8');

function bundle(files: { path: string; data: Uint8Array | string; type?: string }[]): Buffer {
  return gzipSync(writeTar(files));
}

/** The fixture with an ASCII string replaced in place (same length). */
function patched(from: string, to: string): Buffer {
  expect(to.length).toBe(from.length);
  const out = Buffer.from(WASM);
  const at = out.indexOf(from);
  expect(at).toBeGreaterThan(0);
  out.write(to, at, 'ascii');
  return out;
}

function jwt(header: object, payload: object): string {
  const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b(header)}.${b(payload)}.${Buffer.from('sig!').toString('base64url')}`;
}

const scenarios: ContractSubject['scenarios'] = {
  allow: contractInput({ class: 'read' }),
  denyWinsOverAllow: contractInput({ class: 'ddl', command: 'CREATE TABLE' }),
  noAllow: contractInput({ class: 'session', command: 'SET' }),
  approval: contractInput({ class: 'write', command: 'UPDATE' }),
  malformedApproval: contractInput({ class: 'utility', command: 'VACUUM' }),
  malformedMask: contractInput({ class: 'dcl', command: 'GRANT' }),
  evalError: contractInput({ claims: { token: 'not-a-jwt' } }),
  connectAllowed: contractInput({ noStatement: true }),
  connectRefused: contractInput({ noStatement: true, sub: 'mallory' }),
};

runEngineContract('opa-wasm, bare policy.wasm', async () => ({
  engine: await wasmEngine(WASM),
  scenarios,
}));

runEngineContract('opa-wasm, bundle.tar.gz', async () => ({
  engine: await wasmEngine(
    bundle([
      {
        path: '/.manifest',
        data: JSON.stringify({
          roots: [''],
          wasm: [{ entrypoint: 'portcullis', module: '/policy.wasm' }],
        }),
      },
      { path: '/policy.wasm', data: WASM },
      { path: '/data.json', data: '{"settings":{"region":"eu"}}' },
    ]),
  ),
  scenarios,
}));

runEngineContract('opa-wasm, ABI 1.3 (one-call opa_eval path)', async () => ({
  engine: await wasmEngine(WASM_ABI13),
  scenarios,
}));

describe('wasmEngine decisions', () => {
  it('allows reads with the mask and limits the policy gives', async () => {
    const e = await wasmEngine(WASM);
    expect(e.decide(contractInput({ class: 'read' }))).toEqual({
      kind: 'allow',
      mask: { 'public.customers.card': 'partial:last4' },
      limits: { max_rows: 1000, timeout_ms: 5000 },
      reasons: [],
    });
  });

  it('denies DDL with the policy message and hint, although it also allows', async () => {
    const e = await wasmEngine(WASM);
    expect(e.decide(contractInput({ class: 'ddl', command: 'DROP TABLE' }))).toEqual({
      kind: 'deny',
      reasons: ['agents may not change the schema'],
      hint: 'ask a DBA to apply migrations',
    });
  });

  it('holds writes for approval', async () => {
    const e = await wasmEngine(WASM);
    expect(e.decide(contractInput({ class: 'write', command: 'DELETE' }))).toEqual({
      kind: 'approval',
      approval: {
        reason: 'writes need approval',
        approvers: ['group:dba'],
        quorum: 1,
        ttl_seconds: 900,
      },
      reasons: ['writes need approval'],
      hint: undefined,
    });
  });

  it('denies what no rule allows', async () => {
    const e = await wasmEngine(WASM);
    expect(e.decide(contractInput({ class: 'unknown', command: 'DO' })).kind).toBe('deny');
  });

  it('evaluates connect: true by default, false for the refused subject', async () => {
    const e = await wasmEngine(WASM);
    expect(e.connect(contractInput({ noStatement: true }))).toEqual({ allowed: true });
    expect(e.connect(contractInput({ noStatement: true, sub: 'mallory' }))).toEqual({
      allowed: false,
      reason: 'connection refused by policy',
    });
  });

  it('refuses connections when the evaluation fails', async () => {
    const e = await wasmEngine(WASM);
    expect(e.connect(contractInput({ noStatement: true, claims: { token: 'x' } }))).toEqual({
      allowed: false,
      reason: 'connection refused: the policy failed',
    });
  });

  it('labels the version by content and is conservative about what it reads', async () => {
    const a = await wasmEngine(WASM);
    const b = await wasmEngine(WASM, { settings: { region: 'us' } });
    expect(a.version).toMatch(/^wasm:[0-9a-f]{12}$/);
    expect(b.version).not.toBe(a.version);
    expect(a.readsVolatileInput).toBe(true);
    expect(a.readsParams).toBe(true);
    expect(a.entrypoint).toBe('portcullis');
    expect(a.hostBuiltins).toEqual(['io.jwt.decode', 'time.now_ns']);
  });
});

describe('wasmEngine host builtins (served by the Rego evaluator implementations)', () => {
  it('time.now_ns answers with the wall clock through the bridge', async () => {
    const e = await wasmEngine(WASM);
    const before = Date.now() * 1e6;
    const v = e.evaluate(contractInput()) as { now_ns: unknown };
    const after = Date.now() * 1e6;
    expect(typeof v.now_ns).toBe('number');
    expect(v.now_ns as number).toBeGreaterThanOrEqual(before - 1e6);
    expect(v.now_ns as number).toBeLessThanOrEqual(after + 1e6);
  });

  it('io.jwt.decode splits the token like the built-in evaluator does', async () => {
    const e = await wasmEngine(WASM);
    const token = jwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'agent-7', scope: ['read'] });
    const input = contractInput({ claims: { token } });
    const v = e.evaluate(input) as { jwt: unknown };
    const rego = regoEngine([{ path: 'decision.rego', source: REGO }]);
    expect(v.jwt).toEqual([
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'agent-7', scope: ['read'] },
      Buffer.from('sig!').toString('hex'),
    ]);
    expect(v.jwt).toEqual(rego.compiled.evalRef('data.portcullis.jwt', input));
    expect(e.decide(input).kind).toBe('allow');
  });

  it('a failing builtin fails the evaluation closed, and the next one works', async () => {
    const e = await wasmEngine(WASM);
    const d = e.decide(contractInput({ claims: { token: 'a.b' } }));
    expect(d.kind).toBe('deny');
    expect(d.reasons[0]).toMatch(/^the policy failed: io\.jwt\.decode/);
    expect(() => e.evaluate(contractInput({ claims: { token: 'a.b' } }))).toThrow(
      /io\.jwt\.decode/,
    );
    expect(e.decide(contractInput()).kind).toBe('allow');
  });

  it('accepts a module needing a builtin the SDK itself provides', async () => {
    const e = await wasmEngine(patched('io.jwt.decode', 'yaml.is_valid'));
    expect(e.hostBuiltins).toEqual(['time.now_ns', 'yaml.is_valid']);
  });

  it('the bridge fixes the clock per evaluation and passes large integers exactly', async () => {
    const b = builtinBridge();
    const now = () => {
      const v = b.builtins['time.now_ns']();
      expect(v).toBeInstanceOf(ArrayBuffer);
      return BigInt(new TextDecoder().decode(v as ArrayBuffer));
    };
    b.begin();
    const t1 = now();
    await new Promise((r) => setTimeout(r, 5));
    expect(now()).toBe(t1);
    b.begin();
    expect(now()).toBeGreaterThan(t1);
    expect(b.calls.get('time.now_ns')).toBe(3);
  });

  it('the bridge converts JSON arguments and results, and reports errors', () => {
    const b = builtinBridge();
    expect(b.builtins['count']([1, 2, 3])).toBe(3);
    expect(b.builtins['object.get']({ a: { b: 1 } }, ['a', 'b'], 0)).toBe(1);
    expect(b.builtins['time.parse_rfc3339_ns']('2024-01-01T00:00:00Z')).toBeInstanceOf(ArrayBuffer);
    expect(() => b.builtins['io.jwt.decode']('nope')).toThrow(/io\.jwt\.decode/);
    expect(() => b.builtins['count']()).toThrow(/expected 1 arguments/);
  });

  it('refuses at load a module that needs builtins nobody provides', async () => {
    const bad = patched('io.jwt.decode', 'io.jwt.nopeee');
    await expect(wasmEngine(bad)).rejects.toThrow(
      /needs builtins this gateway does not provide: io\.jwt\.nopeee/,
    );
  });
});

describe('wasmEngine data', () => {
  it('loads data.json files from the bundle and lays configured data over them', async () => {
    const b = bundle([
      { path: 'policy.wasm', data: WASM },
      { path: 'data.json', data: '{"settings":{"region":"eu","tier":"gold"}}' },
      { path: 'settings/extra/data.json', data: '{"on":true}' },
    ]);
    const e = await wasmEngine(b);
    expect((e.evaluate(contractInput()) as { settings: unknown }).settings).toEqual({
      region: 'eu',
      tier: 'gold',
      extra: { on: true },
    });
    const o = await wasmEngine(b, { settings: { region: 'us' } });
    expect((o.evaluate(contractInput()) as { settings: unknown }).settings).toEqual({
      region: 'us',
      tier: 'gold',
      extra: { on: true },
    });
  });

  it('takes data for a bare policy.wasm from the caller', async () => {
    const e = await wasmEngine(WASM, { settings: [1, 2, 3] });
    expect((e.evaluate(contractInput()) as { settings: unknown }).settings).toEqual([1, 2, 3]);
  });
});

describe('wasmEngine entrypoints', () => {
  it('falls back to portcullis/decision when the module lists it', async () => {
    const e = await wasmEngine(patched('{"portcullis":0}         ', '{"portcullis/decision":0}'));
    expect(e.entrypoint).toBe('portcullis/decision');
    expect(e.decide(contractInput({ class: 'read' })).kind).toBe('allow');
  });

  it('refuses at load a module without a portcullis entrypoint, naming what it has', async () => {
    await expect(wasmEngine(patched('{"portcullis":0}', '{"other/rule":0}'))).rejects.toThrow(
      /no `portcullis` entrypoint \(it has: other\/rule\)/,
    );
  });
});

describe('wasmEngine load errors (at load, never at decide)', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /neither a wasm module nor a bundle\.tar\.gz/],
    ['text', Buffer.from('package portcullis\n'), /neither a wasm module nor a bundle\.tar\.gz/],
    [
      'wasm magic, garbage',
      Buffer.concat([Buffer.from('\0asm'), Buffer.from([1, 0, 0, 0, 99, 98])]),
      /not a valid WebAssembly module/,
    ],
    [
      'valid wasm, not OPA',
      Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
      /not an OPA policy module \(missing exports: opa_malloc/,
    ],
    [
      'corrupt gzip',
      Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(20, 7)]),
      /bundle: tar: gzip data is corrupt/,
    ],
    ['bundle without wasm', bundle([{ path: '/data.json', data: '{}' }]), /no policy\.wasm/],
    [
      'bundle with bad data.json',
      bundle([
        { path: '/policy.wasm', data: WASM },
        { path: '/data.json', data: '{' },
      ]),
      /data\.json is not JSON/,
    ],
    [
      'truncated bundle',
      gzipSync(writeTar([{ path: 'policy.wasm', data: WASM }]).subarray(0, 1024)),
      /truncated/,
    ],
    ['path traversal', bundle([{ path: '../policy.wasm', data: WASM }]), /path leaves the archive/],
    ['link entry', bundle([{ path: 'policy.wasm', data: '', type: '2' }]), /links are not allowed/],
  ];
  for (const [name, bytes, re] of cases) {
    it(name, async () => {
      const p = wasmEngine(bytes);
      await expect(p).rejects.toThrow(WasmPolicyError);
      await expect(p).rejects.toThrow(re);
    });
  }
});

describe('tar reader', () => {
  const files = [
    { path: '/policy.wasm', data: 'x' },
    { path: './a/./b/data.json', data: '{}' },
  ];

  it('normalizes paths and reads gzip and plain archives alike', () => {
    for (const bytes of [writeTar(files), gzipSync(writeTar(files))]) {
      const m = readTar(bytes);
      expect([...m.keys()]).toEqual(['policy.wasm', 'a/b/data.json']);
      expect(m.get('policy.wasm')?.toString()).toBe('x');
    }
  });

  it('rejects traversal anywhere in the path', () => {
    for (const p of ['../x', 'a/../../x', 'a/b/../../../etc/passwd', '/../x', 'a\\..\\x']) {
      expect(() => readTar(writeTar([{ path: p, data: 'x' }]))).toThrow(TarError);
    }
  });

  it('rejects oversized entries and archives', () => {
    const big = writeTar([{ path: 'policy.wasm', data: Buffer.alloc(10_000) }]);
    expect(() => readTar(big, { maxEntryBytes: 4096 })).toThrow(/exceeds the limit of 4096/);
    expect(() => readTar(gzipSync(big), { maxTotalBytes: 8192 })).toThrow(/larger than 8192/);
  });

  it('rejects bad checksums and duplicate paths', () => {
    const t = writeTar([{ path: 'policy.wasm', data: 'x' }]);
    t[0] ^= 1;
    expect(() => readTar(t)).toThrow(/checksum/);
    expect(() =>
      readTar(
        writeTar([
          { path: '/policy.wasm', data: 'x' },
          { path: 'policy.wasm', data: 'y' },
        ]),
      ),
    ).toThrow(/duplicate/);
  });

  it('honours pax and GNU long names, and checks them too', () => {
    const long = 'd/'.repeat(60) + 'data.json';
    const pax = `path=${long}\n`;
    const rec = `${pax.length + 4} ${pax}`;
    const withPax = writeTar([
      { path: 'PaxHeader', data: rec, type: 'x' },
      { path: 'short', data: '{}' },
    ]);
    expect([...readTar(withPax).keys()]).toEqual([long]);
    const gnu = writeTar([
      { path: '././@LongLink', data: '../../escape', type: 'L' },
      { path: 'short', data: '{}' },
    ]);
    expect(() => readTar(gnu)).toThrow(/leaves the archive/);
  });
});

describe('the wasm fixture and its Rego source decide alike', () => {
  it('the ABI 1.3 variant is evaluated through opa_eval by the SDK', async () => {
    const { loadPolicy } = await import('@open-policy-agent/opa-wasm');
    const p = await loadPolicy(WASM_ABI13, undefined, builtinBridge().builtins);
    expect(p.minorVersion).toBe(3);
    const rs = p.evaluate(contractInput({ class: 'write' }), 'portcullis') as {
      result: { approval: unknown };
    }[];
    expect(rs[0].result.approval).toMatchObject({ reason: 'writes need approval' });
  });

  it.each([
    ['ABI 1.1', WASM],
    ['ABI 1.3', WASM_ABI13],
  ])('%s: same decision and connect answer as the built-in Rego engine', async (_abi, bytes) => {
    const w = await wasmEngine(bytes, { settings: { a: 1 } });
    const r = regoEngine([{ path: 'decision.rego', source: REGO }], { settings: { a: 1 } });
    const token = jwt({ alg: 'none' }, { sub: 'x' });
    const classes = [
      'read',
      'write',
      'ddl',
      'dcl',
      'transaction',
      'session',
      'utility',
      'unknown',
    ] as const;
    let n = 0;
    for (const cls of classes) {
      for (const sub of ['agent-7', 'mallory']) {
        for (const claims of [{}, { token }]) {
          const input = contractInput({ class: cls, sub, claims });
          expect(w.decide(input)).toEqual(r.decide(input));
          expect(w.connect(input)).toEqual(r.connect(input));
          const { now_ns: _w, ...wv } = w.evaluate(input) as Record<string, unknown>;
          const { now_ns: _r, ...rv } = r.compiled.evalRef('data.portcullis', input) as Record<
            string,
            unknown
          >;
          expect(wv).toEqual(rv);
          n++;
        }
      }
    }
    expect(n).toBe(32);
  });
});
