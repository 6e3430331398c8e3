// Host builtins for opa-wasm policies, served by the built-in Rego evaluator's own builtin
// implementations (src/policy/rego/builtins), so that both engines compute time.now_ns,
// io.jwt.decode, ... with the same code.
//
// The SDK hands each builtin its arguments as parsed JSON (sets arrive as arrays) and turns
// the returned value back into JSON. Values are converted at that boundary: JSON -> Value
// with fromJS; Value -> plain JSON, or exact JSON text (an ArrayBuffer, which the SDK
// takes as-is) when the value holds integers beyond 2^53, such as time.now_ns().
import './rego/builtins/all.js';
import { BUILTINS } from './rego/builtins/registry.js';
import { Ctx } from './rego/runtime.js';
import { fromJS, marshal, toJSONish, type Value } from './rego/value.js';

type HostFn = (...args: unknown[]) => unknown;

export interface BuiltinBridge {
  /** name -> implementation, in the shape `loadPolicy(..., customBuiltins)` expects. */
  readonly builtins: Record<string, HostFn>;
  /** Starts a new evaluation: one clock reading for every time.now_ns() in it. */
  begin(): void;
  /** Builtin calls made since the bridge was created, by name. */
  readonly calls: Map<string, number>;
}

const encoder = new TextEncoder();

function hasBig(v: unknown): boolean {
  if (typeof v === 'bigint') return true;
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(hasBig);
  return Object.values(v).some(hasBig);
}

function toHost(v: Value | undefined): unknown {
  if (v === undefined) return undefined;
  const json = toJSONish(v, true);
  if (!hasBig(json)) return json;
  const bytes = encoder.encode(marshal(v));
  return bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
}

/** Names of the builtins the bridge can serve. */
export function bridgedBuiltins(): string[] {
  return [...BUILTINS.keys()].sort();
}

export function builtinBridge(): BuiltinBridge {
  let ctx = new Ctx(undefined, {}, false, undefined);
  const calls = new Map<string, number>();
  const builtins: Record<string, HostFn> = {};
  for (const [name, b] of BUILTINS) {
    builtins[name] = (...args: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      if (b.arity >= 0 && args.length !== b.arity)
        throw new Error(`${name}: expected ${b.arity} arguments, got ${args.length}`);
      return toHost(b.fn(args.map(fromJS), ctx));
    };
  }
  return {
    builtins,
    calls,
    begin() {
      ctx = new Ctx(undefined, {}, false, undefined);
    },
  };
}
