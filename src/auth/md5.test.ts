import { describe, expect, it } from 'vitest';
import { AuthError } from './errors.js';
import { md5Password } from './md5.js';

describe('md5Password', () => {
  it('matches a value computed independently (Python hashlib)', () => {
    expect(md5Password('postgres', 'secret', Uint8Array.from([1, 2, 3, 4]))).toBe(
      'md5bb41a296aab6baccb36ff243a562abff',
    );
  });

  it('rejects a salt that is not 4 bytes', () => {
    expect(() => md5Password('u', 'p', new Uint8Array(5))).toThrow(AuthError);
  });
});
