// Loads the configured policy: Rego files for the built-in evaluator (tests run before use),
// or the development allow-all engine.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { PolicyConfig } from '../config/index.js';
import { ConfigError } from '../config/load.js';
import { allowAllEngine } from '../policy/allow-all.js';
import { regoEngine, type RegoSource } from '../policy/rego-engine.js';
import type { PolicyEngine } from '../policy/types.js';

/** Every .rego file named (directories are searched recursively). */
export function readRegoSources(paths: string[], baseDir: string): RegoSource[] {
  const out: RegoSource[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) walk(join(p, e));
    } else if (p.endsWith('.rego'))
      out.push({ path: relative(baseDir, p) || p, source: readFileSync(p, 'utf8') });
  };
  for (const p of paths) {
    try {
      walk(resolve(baseDir, p));
    } catch {
      throw new ConfigError(`policy: cannot read ${p}`);
    }
  }
  if (out.length === 0) throw new ConfigError(`policy: no .rego files in ${paths.join(', ')}`);
  return out;
}

export async function loadPolicy(
  cfg: PolicyConfig | undefined,
  baseDir: string,
): Promise<PolicyEngine> {
  if (cfg?.allowAll) return allowAllEngine();
  if (cfg?.wasm) {
    const { wasmEngine } = await import('../policy/wasm-engine.js');
    return wasmEngine(readFileSync(resolve(baseDir, cfg.wasm)), cfg.data);
  }
  const sources = readRegoSources(cfg?.files ?? ['policies.rego'], baseDir);
  let engine;
  try {
    engine = regoEngine(sources, cfg?.data);
  } catch (err) {
    throw new ConfigError(`policy: ${(err as Error).message}`);
  }
  const failed = engine.compiled.runTests().filter((t) => !t.pass);
  if (failed.length) {
    throw new ConfigError(
      'policy: tests failed',
      failed.map((t) => `${t.name}: ${t.error ?? 'failed'}`),
    );
  }
  return engine;
}
