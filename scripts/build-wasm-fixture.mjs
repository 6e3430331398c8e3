// Regenerates src/policy/fixtures/decision.wasm and decision-abi13.wasm from decision.wat
// (the OPA-ABI test policy; the second declares ABI 1.3, so the SDK calls opa_eval).
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
const MINOR = '(global $abi_minor i32 (i32.const 1))';
if (!src.includes(MINOR)) throw new Error('decision.wat: ABI minor version global not found');
const variants = [
  ['decision.wasm', src],
  ['decision-abi13.wasm', src.replace(MINOR, '(global $abi_minor i32 (i32.const 3))')],
];
for (const [name, text] of variants) {
  const mod = wabt.parseWat('decision.wat', text);
  mod.validate();
  const { buffer } = mod.toBinary({ write_debug_names: true });
  mod.destroy();
  writeFileSync(join(dir, name), buffer);
  console.log(`wrote ${join(dir, name)} (${buffer.length} bytes)`);
}
