// Addresses only this machine can reach.

/** True for a loopback address or host name (a client's address, or a listener's host). */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return (
    addr === 'localhost' ||
    addr === '::1' ||
    addr.startsWith('127.') ||
    addr.startsWith('::ffff:127.')
  );
}
