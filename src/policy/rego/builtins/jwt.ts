// io.jwt.decode: splits a compact JWS into header, payload and signature (no verification).
import { BuiltinError } from '../errors.js';
import { parseJSON } from './encoding.js';
import { def, str } from './registry.js';
import type { Value } from '../value.js';

function b64url(part: string): string {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(part))
    throw new BuiltinError(
      'eval_builtin_error',
      'io.jwt.decode: failed to decode JWT: illegal base64 data',
    );
  return Buffer.from(part, 'base64url').toString('utf8');
}

def('io.jwt.decode', 1, (a) => {
  const tok = str('io.jwt.decode', a, 0);
  const parts = tok.split('.');
  if (parts.length !== 3)
    throw new BuiltinError(
      'eval_builtin_error',
      'io.jwt.decode: encoded JWT had no period separators',
    );
  let header: Value;
  let payload: Value;
  try {
    header = parseJSON(b64url(parts[0]));
    const raw = b64url(parts[1]);
    if (
      header &&
      typeof header === 'object' &&
      !Array.isArray(header) &&
      (header as Record<string, Value>).cty === 'JWT'
    ) {
      throw new BuiltinError('eval_builtin_error', 'io.jwt.decode: nested JWT not supported');
    }
    payload = parseJSON(raw);
  } catch (e) {
    if (e instanceof BuiltinError) throw e;
    throw new BuiltinError(
      'eval_builtin_error',
      `io.jwt.decode: failed to parse JWT: ${(e as Error).message}`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new BuiltinError('eval_builtin_error', 'io.jwt.decode: JWT header is not an object');
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new BuiltinError('eval_builtin_error', 'io.jwt.decode: JWT payload is not an object');
  const sig = Buffer.from(parts[2], 'base64url').toString('hex');
  return [header, payload, sig];
});
