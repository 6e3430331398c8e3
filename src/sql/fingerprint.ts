// Stable statement fingerprint: SHA-256 of the literal-free key (128 bits, hex).
import { createHash } from 'node:crypto';
import { scanKey } from './cache-key.js';

/** Same value for statements that differ only in literals, comments' contents or their bodies. */
export function fingerprint(statementText: string): string {
  return createHash('sha256').update(scanKey(statementText).key).digest('hex').slice(0, 32);
}
