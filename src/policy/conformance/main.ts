// CLI: `npm run conformance -- <dir>` runs OPA YAML conformance cases; last line "N passed, M failed, K skipped".
import path from 'node:path';
import { runDir } from './runner.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: npm run conformance -- <dir-of-opa-yaml-cases> [--verbose]');
  process.exit(2);
}
const verbose = process.argv.includes('--verbose');
const s = runDir(path.resolve(dir));
for (const r of s.results) {
  if (r.status === 'fail') console.log(`FAIL ${r.file} :: ${r.note}: ${r.reason}`);
  else if (r.status === 'skip' && verbose) console.log(`SKIP ${r.file} :: ${r.note}: ${r.reason}`);
}
console.log(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
process.exit(s.failed > 0 ? 1 : 0);
