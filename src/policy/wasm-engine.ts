// PolicyEngine over a policy compiled with `opa build -t wasm -e portcullis`, evaluated through
// @open-policy-agent/opa-wasm. Accepts the bundle.tar.gz that `opa build` writes (policy.wasm,
// data.json files, .manifest) or a bare policy.wasm.
//
// Builtins the wasm leaves to its host are served by the built-in Rego evaluator's
// implementations (wasm-builtins.ts). Every failure at evaluation time denies; every problem
// that can be seen at load time (bad bytes, not an OPA module, missing entrypoint, builtins
// nobody implements) throws from wasmEngine() instead.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { combine, type RuleValues } from './decision.js';
import { isGzip, isTar, readTar } from './tar.js';
import { builtinBridge, type BuiltinBridge } from './wasm-builtins.js';
import type { Decision, PolicyEngine, PolicyInput } from './types.js';

export interface WasmEngine extends PolicyEngine {
  /** The entrypoint(s) evaluated per statement. */
  readonly entrypoint: string;
  /** Builtins the module asks its host for. */
  readonly hostBuiltins: string[];
  /** The raw value of data.portcullis (OPA JSON form); undefined when undefined. Throws. */
  evaluate(input: unknown): unknown;
}

export class WasmPolicyError extends Error {
  override name = 'WasmPolicyError';
}

/** Exports the SDK calls; a module without them was not built by `opa build -t wasm`. */
const REQUIRED_EXPORTS = [
  'opa_malloc',
  'opa_json_parse',
  'opa_json_dump',
  'opa_heap_ptr_get',
  'opa_heap_ptr_set',
  'opa_eval_ctx_new',
  'opa_eval_ctx_set_input',
  'opa_eval_ctx_set_data',
  'opa_eval_ctx_set_entrypoint',
  'opa_eval_ctx_get_result',
  'eval',
  'builtins',
  'entrypoints',
];

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

// The SDK's ESM entry exports only loadPolicy; its CommonJS entry also has loadPolicySync,
// which the engine needs to replace an instance inside a synchronous decide().
const require = createRequire(import.meta.url);
const opa = require('@open-policy-agent/opa-wasm') as typeof import('@open-policy-agent/opa-wasm');

function message(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string')
    return (err as { message: string }).message;
  return String(err);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Builtin names the SDK implements itself (it consults them before ours). */
function sdkBuiltins(): Set<string> {
  try {
    const main = require.resolve('@open-policy-agent/opa-wasm');
    const mod = require(join(dirname(main), 'builtins', 'index.js')) as Record<string, unknown>;
    return new Set(Object.keys(mod));
  } catch {
    return new Set();
  }
}

function setAt(root: Record<string, unknown>, path: string[], value: unknown, file: string): void {
  let o = root;
  for (const k of path.slice(0, -1)) {
    const next = o[k];
    if (next === undefined) o = o[k] = {};
    else if (isPlainObject(next)) o = next;
    else throw new WasmPolicyError(`bundle: ${file} conflicts with data at ${path.join('.')}`);
  }
  const last = path[path.length - 1];
  o[last] = o[last] === undefined ? value : merge(o[last], value, file);
}

function merge(a: unknown, b: unknown, file: string): unknown {
  if (!isPlainObject(a) || !isPlainObject(b)) {
    if (a === undefined) return b;
    if (b === undefined) return a;
    throw new WasmPolicyError(`bundle: ${file} overlaps data from another file`);
  }
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v, file) : v;
  return out;
}

/** Configured data wins over bundle data wherever both define a leaf. */
function overlay(base: unknown, top: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(top)) return top === undefined ? base : top;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(top)) out[k] = overlay(out[k], v);
  return out;
}

interface Unpacked {
  wasm: Buffer;
  data: Record<string, unknown>;
}

function unpack(bytes: Buffer): Unpacked {
  const magic = WASM_MAGIC.every((b, i) => bytes[i] === b);
  if (magic) return { wasm: bytes, data: {} };
  if (!isGzip(bytes) && !isTar(bytes)) {
    const head = bytes.subarray(0, 8).toString('hex');
    throw new WasmPolicyError(
      `policy is neither a wasm module nor a bundle.tar.gz (${bytes.length} bytes starting ${head || '(empty)'})`,
    );
  }
  let files: Map<string, Buffer>;
  try {
    files = readTar(bytes);
  } catch (err) {
    throw new WasmPolicyError(`bundle: ${message(err)}`);
  }
  // The module: the manifest's, else /policy.wasm, else the only .wasm file.
  let modulePath: string | undefined;
  const manifest = files.get('.manifest');
  if (manifest) {
    let m: unknown;
    try {
      m = JSON.parse(manifest.toString('utf8'));
    } catch (err) {
      throw new WasmPolicyError(`bundle: .manifest is not JSON: ${message(err)}`);
    }
    const list = isPlainObject(m) && Array.isArray(m.wasm) ? m.wasm : [];
    const paths = list
      .filter(isPlainObject)
      .map((w) => (typeof w.module === 'string' ? w.module.replace(/^\/+/, '') : ''))
      .filter((p) => p && files.has(p));
    if (new Set(paths).size > 1)
      throw new WasmPolicyError(
        `bundle: more than one wasm module (${paths.join(', ')}); build with one`,
      );
    modulePath = paths[0];
  }
  if (!modulePath && files.has('policy.wasm')) modulePath = 'policy.wasm';
  if (!modulePath) {
    const wasms = [...files.keys()].filter((p) => p.endsWith('.wasm'));
    if (wasms.length === 0)
      throw new WasmPolicyError('bundle: no policy.wasm (build with `opa build -t wasm`)');
    if (wasms.length > 1)
      throw new WasmPolicyError(`bundle: more than one wasm module (${wasms.join(', ')})`);
    modulePath = wasms[0];
  }
  const data: Record<string, unknown> = {};
  for (const [path, content] of files) {
    if (path !== 'data.json' && !path.endsWith('/data.json')) continue;
    let v: unknown;
    try {
      v = JSON.parse(content.toString('utf8'));
    } catch (err) {
      throw new WasmPolicyError(`bundle: ${path} is not JSON: ${message(err)}`);
    }
    const at = path.split('/').slice(0, -1);
    if (at.length === 0) {
      if (!isPlainObject(v)) throw new WasmPolicyError('bundle: data.json must hold an object');
      Object.assign(data, merge(data, v, path));
    } else setAt(data, at, v, path);
  }
  return { wasm: files.get(modulePath) as Buffer, data };
}

type Evaluator = (policy: LoadedPolicy, input: unknown) => unknown;

/** Picks what to evaluate: `portcullis`, else `portcullis/decision` when the module lists it. */
function chooseEntrypoint(entrypoints: Record<string, number>): { name: string; run: Evaluator } {
  const one = (rs: unknown): unknown => {
    if (!Array.isArray(rs) || rs.length === 0) return undefined;
    if (rs.length > 1) throw new Error('the policy returned more than one result');
    const r = rs[0] as unknown;
    return isPlainObject(r) ? r.result : undefined;
  };
  for (const name of ['portcullis', 'portcullis/decision']) {
    if (Object.prototype.hasOwnProperty.call(entrypoints, name))
      return { name, run: (p, input) => one(p.evaluate(input, name)) };
  }
  const listed = Object.keys(entrypoints).join(', ') || '(none)';
  throw new WasmPolicyError(
    `policy.wasm has no \`portcullis\` entrypoint (it has: ${listed}); build it with \`opa build -t wasm -e portcullis\``,
  );
}

/** Builtins the module imports from its host (read once, before any data is loaded). */
function requiredBuiltins(policy: LoadedPolicy): string[] {
  const inst = policy.wasmInstance as WebAssembly.Instance;
  const ex = inst.exports as Record<string, (...a: number[]) => number>;
  const addr = ex.opa_json_dump(ex.builtins());
  const mem = new Uint8Array(policy.mem.buffer);
  let end = addr;
  while (end < mem.length && mem[end] !== 0) end++;
  const v = JSON.parse(new TextDecoder().decode(mem.subarray(addr, end))) as unknown;
  return isPlainObject(v) ? Object.keys(v).sort() : [];
}

/**
 * Loads an `opa build -t wasm -e portcullis` bundle.tar.gz or policy.wasm. `data` is laid
 * over the bundle's data.json (configured values win). Throws WasmPolicyError on anything
 * that would make every decision fail.
 */
export async function wasmEngine(
  bytes: Buffer,
  data?: Record<string, unknown>,
): Promise<WasmEngine> {
  const { wasm, data: bundleData } = unpack(bytes);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(Uint8Array.from(wasm));
  } catch (err) {
    throw new WasmPolicyError(`policy.wasm is not a valid WebAssembly module: ${message(err)}`);
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = REQUIRED_EXPORTS.filter((e) => !exported.has(e));
  if (missing.length)
    throw new WasmPolicyError(
      `policy.wasm is not an OPA policy module (missing exports: ${missing.join(', ')}); build it with \`opa build -t wasm\``,
    );

  const bridge: BuiltinBridge = builtinBridge();
  const baseData = overlay(bundleData, data ?? {}) as Record<string, unknown>;
  let policy: LoadedPolicy;
  let hostBuiltins: string[];
  try {
    policy = await opa.loadPolicy(module, undefined, bridge.builtins);
    hostBuiltins = requiredBuiltins(policy);
  } catch (err) {
    throw new WasmPolicyError(`policy.wasm failed to load: ${message(err)}`);
  }
  const sdk = sdkBuiltins();
  const served = new Set([...Object.keys(bridge.builtins), ...sdk]);
  const unserved = hostBuiltins.filter((b) => !served.has(b));
  if (unserved.length)
    throw new WasmPolicyError(
      `policy.wasm needs builtins this gateway does not provide: ${unserved.join(', ')}`,
    );
  const { name: entrypoint, run } = chooseEntrypoint(policy.entrypoints as Record<string, number>);
  try {
    policy.setData(baseData);
  } catch (err) {
    throw new WasmPolicyError(`policy.wasm refused its data: ${message(err)}`);
  }

  // After an evaluation error the instance may be left mid-computation: replace it.
  let broken = false;
  const evaluate = (input: unknown): unknown => {
    if (broken) {
      policy = opa.loadPolicySync(module, undefined, bridge.builtins);
      policy.setData(baseData);
      broken = false;
    }
    bridge.begin();
    try {
      return run(policy, input);
    } catch (err) {
      broken = true;
      throw err instanceof Error ? err : new Error(message(err));
    }
  };

  const hash = createHash('sha256').update(bytes);
  if (data !== undefined) hash.update('\0').update(JSON.stringify(data));
  const version = 'wasm:' + hash.digest('hex').slice(0, 12);

  return {
    version,
    entrypoint,
    hostBuiltins,
    // The module is opaque: assume it reads the clock, the text and the parameters.
    readsVolatileInput: true,
    readsParams: true,
    mayRedact: true,
    evaluate,
    decide(input: PolicyInput): Decision {
      try {
        const v = evaluate(input);
        if (v === undefined) return combine({});
        if (!isPlainObject(v))
          return {
            kind: 'deny',
            reasons: ['the policy returned a malformed decision (not an object)'],
          };
        const r: RuleValues = {
          allow: v.allow,
          deny: v.deny,
          hint: v.hint,
          approval: v.approval,
          mask: v.mask,
          limits: v.limits,
          redact: v.redact,
        };
        return combine(r);
      } catch (err) {
        return { kind: 'deny', reasons: [`the policy failed: ${message(err)}`] };
      }
    },
    connect(input: PolicyInput) {
      try {
        const v = evaluate(input);
        const c = isPlainObject(v) ? v.connect : undefined;
        if (c === undefined || c === true) return { allowed: true };
        return { allowed: false, reason: 'connection refused by policy' };
      } catch {
        return { allowed: false, reason: 'connection refused: the policy failed' };
      }
    },
  };
}
