// Public API of the auth stage: client authentication, dev tokens, and the upstream login client.
export { AuthError, type AuthErrorCode } from './errors.js';
export {
  createAuthenticator,
  type AuthContext,
  type AuthFailureCode,
  type AuthOptions,
  type AuthResult,
  type Authenticator,
} from './authenticator.js';
export {
  allowedAlgorithms,
  createJwtVerifier,
  type JwtOptions,
  type JwtResult,
  type JwtVerifier,
} from './jwt.js';
export { resolveKeys, type JwksSource } from './jwks.js';
export { createJwtTrust, type JwtTrust, type TrustedIssuer } from './jwt-trust.js';
export { claimAt, mapClaims, type ClaimMapping } from './claims.js';
export {
  API_KEY_PREFIX,
  apiKeyIdentity,
  keyFingerprint,
  createApiKeyVerifier,
  generateApiKey,
  hashApiKey,
  isApiKey,
  type ApiKeyEntry,
} from './api-key.js';
export {
  addressKey,
  createFailureLimiter,
  type FailureLimiter,
  type FailureLimiterOptions,
  type AttemptCheck,
  type AttemptOutcome,
  type LimitRule,
} from './limiter.js';
export {
  DEV_AUDIENCE,
  DEV_ISSUER,
  DEV_KEY_FILE,
  devJwtOptions,
  loadOrCreateDevKey,
  mintToken,
  type DevKey,
  type MintOptions,
} from './dev-key.js';
export {
  SCRAM_MECHANISM,
  clearScramCache,
  createScramClient,
  type ScramClient,
  type ScramClientOptions,
  type ScramLimits,
} from './scram.js';
export { md5Password } from './md5.js';
export {
  createUpstreamAuth,
  encodeUpstreamAuthReply,
  type UpstreamAuth,
  type UpstreamAuthMethod,
  type UpstreamAuthOptions,
  type UpstreamAuthReply,
} from './upstream.js';
