// Run simple-protocol SQL on an upstream session the gateway owns (demo seeding, catalog
// look-ups). Not used on client sessions.
import { B, FrameReader, parseErrorFields, queryMessage } from '../wire/index.js';
import type { Socket } from 'node:net';

export interface SqlRows {
  rows: (string | null)[][];
}

/** Send one Query and collect text rows until ReadyForQuery; rejects on ErrorResponse. */
export function runSql(socket: Socket, sql: string): Promise<SqlRows> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(64 * 1024 * 1024);
    const rows: (string | null)[][] = [];
    let error: Error | undefined;
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      for (let f = reader.next(); f; f = reader.next()) {
        if (f.type === B.DataRow) {
          const n = f.body.readInt16BE(0);
          let pos = 2;
          const row: (string | null)[] = [];
          for (let i = 0; i < n; i++) {
            const len = f.body.readInt32BE(pos);
            pos += 4;
            if (len < 0) row.push(null);
            else {
              row.push(f.body.toString('utf8', pos, pos + len));
              pos += len;
            }
          }
          rows.push(row);
        } else if (f.type === B.ErrorResponse) {
          const e = parseErrorFields(f.body);
          error ??= new Error(`${e.C ?? ''} ${e.M ?? 'error'}`.trim());
        } else if (f.type === B.ReadyForQuery) {
          socket.removeListener('data', onData);
          socket.removeListener('close', onClose);
          return error ? reject(error) : resolve({ rows });
        }
      }
    };
    const onClose = () => reject(new Error('connection closed'));
    socket.on('data', onData);
    socket.resume();
    socket.once('close', onClose);
    socket.write(queryMessage(sql));
  });
}
