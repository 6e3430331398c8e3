// io.jwt.decode: splits a compact JWS into header, payload and signature (no verification).
import { BuiltinError } from '../errors.js';
import { isPlainObj, type Value } from '../value.js';
import { parseJSON } from './encoding.js';
import { def, str } from './registry.js';

function fail(msg: string): never {
  throw new BuiltinError('eval_builtin_error', `io.jwt.decode: ${msg}`);
}

function b64url(part: string, what: string): Buffer {
  const s = part.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1)
    fail(`JWT ${what} had invalid encoding: illegal base64 data`);
  return Buffer.from(s, 'base64url');
}

function decode(tok: string): Value[] {
  const parts = tok.split('.');
  if (parts.length === 5) fail('JWT is a JWE object, which is not supported');
  if (parts.length !== 3) fail('encoded JWT had no period separators');
  let header: Value;
  try {
    header = parseJSON(b64url(parts[0], 'header').toString('utf8'));
  } catch (e) {
    if (e instanceof BuiltinError) throw e;
    return fail(`failed to parse JWT header: ${(e as Error).message}`);
  }
  if (!isPlainObj(header)) return fail('JWT header is not an object');
  if (header.enc !== undefined) fail('JWT is a JWE object, which is not supported');
  const sig = b64url(parts[2], 'signature').toString('hex');
  const raw = b64url(parts[1], 'payload').toString('utf8');
  if (typeof header.cty === 'string' && header.cty.toUpperCase() === 'JWT') {
    const inner = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    return decode(inner);
  }
  let payload: Value;
  try {
    payload = parseJSON(raw);
  } catch (e) {
    return fail(`failed to parse JWT payload: ${(e as Error).message}`);
  }
  if (!isPlainObj(payload)) return fail('JWT payload is not an object');
  return [header, payload, sig];
}

def('io.jwt.decode', 1, (a) => decode(str('io.jwt.decode', a, 0)));
