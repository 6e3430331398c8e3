// Hash builtins (crypto.md5/sha1/sha256, crypto.hmac.*) and opa.runtime.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { def, str } from './registry.js';

for (const alg of ['md5', 'sha1', 'sha256'] as const)
  def(`crypto.${alg}`, 1, (a) =>
    createHash(alg)
      .update(str(`crypto.${alg}`, a, 0), 'utf8')
      .digest('hex'),
  );
for (const alg of ['md5', 'sha1', 'sha256', 'sha512'] as const)
  def(`crypto.hmac.${alg}`, 2, (a) =>
    createHmac(alg, str(`crypto.hmac.${alg}`, a, 1))
      .update(str(`crypto.hmac.${alg}`, a, 0), 'utf8')
      .digest('hex'),
  );
def('crypto.hmac.equal', 2, (a) => {
  const x = Buffer.from(str('crypto.hmac.equal', a, 0));
  const y = Buffer.from(str('crypto.hmac.equal', a, 1));
  return x.length === y.length && timingSafeEqual(x, y);
});
// The gateway exposes no runtime environment to policies.
def('opa.runtime', 0, () => ({}));
