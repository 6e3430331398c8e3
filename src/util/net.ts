// Addresses only this machine can reach.
import { isIPv4 } from 'node:net';

/** True for a loopback address or host name (a client's address, or a listener's host). */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  if (addr === 'localhost' || addr === '::1') return true;
  // An address in 127.0.0.0/8, not a host name that starts like one (127.mgmt.example).
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return v4.startsWith('127.') && isIPv4(v4);
}
