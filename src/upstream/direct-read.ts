// Reading a plain (non-TLS) upstream socket through net's `onread` instead of its Readable
// stream: every answer PostgreSQL sends passes here, and the stream's per-read bookkeeping
// (a push, a nextTick to read more, a 'data' emit) cost more than the bytes' copy.
import { connect, type Socket } from 'node:net';

type OnData = (chunk: Buffer) => void;

/** One read buffer for every socket: each read is copied out before the next one. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const handlers = new WeakMap<Socket, OnData>();
const directSockets = new WeakSet<Socket>();

/**
 * A TCP connection whose reads go to `onUpstreamData`'s handler; until one is set they are
 * emitted as 'data' events, as a plain socket's are (the login reads them so). Pause and
 * resume work as on any socket.
 */
export function connectDirect(o: { host: string; port: number }): Socket {
  const sock: Socket = connect({
    host: o.host,
    port: o.port,
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Uint8Array) => {
        // Small reads come from Node's shared pool; nothing keeps READ_BUFFER.
        const chunk = Buffer.allocUnsafe(n);
        chunk.set(buf.subarray(0, n));
        const on = handlers.get(sock);
        if (on) on(chunk);
        else sock.emit('data', chunk);
        // Not false: reading goes on (pause() stops it, as on any socket).
        return true;
      },
    },
  });
  directSockets.add(sock);
  return sock;
}

/** Hand every chunk read from `sock` to `on`: directly when it was made by connectDirect. */
export function onUpstreamData(sock: Socket, on: OnData): void {
  if (directSockets.has(sock)) handlers.set(sock, on);
  else sock.on('data', on);
}
