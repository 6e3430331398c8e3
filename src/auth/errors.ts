// AuthError: the one typed error thrown by the auth stage (config mistakes, hostile upstream auth data).

export type AuthErrorCode =
  | 'config' // options the gateway must refuse to start with
  | 'state' // a method called out of protocol order
  | 'malformed' // a message that does not follow the grammar
  | 'oversized' // a message or field over its length cap
  | 'nonce' // SCRAM server nonce does not extend ours or is not printable
  | 'salt' // SCRAM salt not base64, empty, or too long
  | 'iterations' // SCRAM iteration count outside the accepted range
  | 'server-signature' // SCRAM server signature does not match: the server does not know the password
  | 'server-error' // SCRAM server-final carried e=<error>
  | 'unsupported' // an upstream auth method that is not offered or not allowed
  | 'key-file'; // the development key file is unreadable or invalid

/**
 * Error raised by the auth stage. `message` never contains a password, token or key secret,
 * but it may quote (truncated) upstream data, so it is for logs, not for clients.
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Printable, truncated rendering of untrusted text for an error message. */
export function quoteUntrusted(text: string, max = 64): string {
  const clean = text.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(text.length > max ? clean + '…' : clean);
}
