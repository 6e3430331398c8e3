// PostgreSQL md5 password response: 'md5' + md5(md5(password + user) + salt).
import { createHash } from 'node:crypto';
import { AuthError } from './errors.js';

/**
 * The PasswordMessage body for AuthenticationMD5Password.
 *
 * @example
 * md5Password('svc', 'secret', salt4Bytes) // 'md5' followed by 32 hex digits
 */
export function md5Password(user: string, password: string, salt: Uint8Array): string {
  if (salt.byteLength !== 4) throw new AuthError('malformed', 'md5 salt must be 4 bytes');
  const inner = createHash('md5').update(password).update(user).digest('hex');
  return 'md5' + createHash('md5').update(inner).update(salt).digest('hex');
}
