// Regenerates src/policy/fixtures/decision.wasm from decision.wat (the OPA-ABI test policy).
// Needs the wabt package, which is not a dependency: `npm install --no-save wabt` first.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'policy', 'fixtures');
let wabtInit;
try {
  wabtInit = (await import('wabt')).default;
} catch {
  console.error('wabt is not installed: run `npm install --no-save wabt` and try again');
  process.exit(1);
}
const wabt = await wabtInit();
const src = readFileSync(join(dir, 'decision.wat'), 'utf8');
const mod = wabt.parseWat('decision.wat', src);
mod.validate();
const { buffer } = mod.toBinary({ write_debug_names: true });
mod.destroy();
writeFileSync(join(dir, 'decision.wasm'), buffer);
console.log(`wrote ${join(dir, 'decision.wasm')} (${buffer.length} bytes)`);
