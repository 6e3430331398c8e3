import { afterEach, describe, expect, it } from 'vitest';
import { log, registerSecret, setLogSink } from './logger.js';

afterEach(() => setLogSink((line) => process.stderr.write(line + '\n')));

describe('secret scrubbing', () => {
  it('leaves no secret in a line, also one with characters JSON escapes', () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    const secrets = ['plain-secret-1', 'quo"te-secret', 'back\\slash-secret', 'tab\tsecret'];
    for (const s of secrets) registerSecret(s);
    log.error('upstream refused', {
      err: new Error(`password ${secrets[1]} rejected`),
      a: secrets[0],
      b: `x ${secrets[2]} y`,
      c: secrets[3],
    });
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]) as Record<string, unknown>;
    const text = JSON.stringify(parsed) + lines[0];
    for (const s of secrets) {
      expect(text).not.toContain(s);
      expect(lines[0]).not.toContain(JSON.stringify(s).slice(1, -1));
    }
    expect(parsed.a).toBe('[redacted]');
  });
});
