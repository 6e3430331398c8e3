// Runs OPA's v1 YAML conformance cases (copied under ../shared/rego/opa-cases) through the built-in evaluator.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runDir } from './runner.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const casesDir = path.resolve(repoRoot, '..', 'shared', 'rego', 'opa-cases', 'v1');

describe('OPA conformance (v1 cases)', () => {
  it.skipIf(!existsSync(casesDir))('passes at least 95% of the cases', () => {
    const s = runDir(casesDir);
    const total = s.passed + s.failed + s.skipped;
    const failures = s.results
      .filter((r) => r.status === 'fail')
      .map((r) => `${r.note}: ${r.reason}`);
    expect(total).toBeGreaterThan(600);
    expect(s.passed / total, failures.join('\n')).toBeGreaterThanOrEqual(0.95);
  });
});
