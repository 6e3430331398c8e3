// End an upstream backend from outside its own connection: a statement that goes on after
// its cancel (it caught it, or it is blocked writing to a client that does not read).
import { connectUpstream, type UpstreamTarget } from './connect.js';
import { runSql } from './sql.js';

/**
 * pg_terminate_backend over a connection of its own, logged in with the target's credential
 * (a role may end its own backends).
 */
export async function terminateBackend(target: UpstreamTarget, pid: number): Promise<void> {
  const up = await connectUpstream(target, {});
  try {
    up.socket.on('error', () => up.socket.destroy());
    up.socket.resume();
    await runSql(up.socket, `SELECT pg_catalog.pg_terminate_backend(${pid})`);
  } finally {
    up.socket.destroy();
  }
}
