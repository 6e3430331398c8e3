// Logs in to the run's real PostgreSQL over a raw socket with the SCRAM client and the upstream state machine.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { testPg } from '../../test/pg-env.js';
import { createScramClient } from './scram.js';
import { createUpstreamAuth, encodeUpstreamAuthReply } from './upstream.js';

// Deliberately naive frame builders, independent of encodeUpstreamAuthReply.
function startupMessage(user: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0postgres\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}
function frame(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}
function saslInitialResponse(mechanism: string, data: string): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(Buffer.byteLength(data));
  return frame('p', Buffer.concat([Buffer.from(mechanism + '\0'), len, Buffer.from(data)]));
}
const saslResponse = (data: string) => frame('p', Buffer.from(data));

interface Message {
  type: string;
  body: Buffer;
}

/** Reads whole backend messages from a socket, in order. */
class Reader {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private ended = false;
  constructor(sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    sock.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
  }
  async next(): Promise<Message> {
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length >= 1 + len) {
          const msg = {
            type: String.fromCharCode(this.buf[0]),
            body: this.buf.subarray(5, 1 + len),
          };
          this.buf = this.buf.subarray(1 + len);
          return msg;
        }
      }
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((r) => (this.waiting = r));
    }
  }
}

function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    out[String.fromCharCode(body[i])] = body.subarray(i + 1, end).toString();
    i = end + 1;
  }
  return out;
}

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

async function open(): Promise<{ sock: Socket; reader: Reader }> {
  const pg = testPg();
  const sock = connect(pg.port, pg.host);
  sockets.push(sock);
  const reader = new Reader(sock);
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.write(startupMessage(pg.user));
  return { sock, reader };
}

/** Hand-driven SCRAM login; returns the message after the last client message. */
async function scramLogin(password: string): Promise<{ final: Message; verified: boolean }> {
  const pg = testPg();
  const { sock, reader } = await open();
  const sasl = await reader.next();
  expect(sasl.type).toBe('R');
  expect(sasl.body.readInt32BE(0)).toBe(10); // AuthenticationSASL
  expect(sasl.body.subarray(4).toString().split('\0')).toContain('SCRAM-SHA-256');
  const scram = createScramClient(pg.user, password);
  sock.write(saslInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
  const cont = await reader.next();
  expect(cont.type).toBe('R');
  expect(cont.body.readInt32BE(0)).toBe(11); // AuthenticationSASLContinue
  sock.write(saslResponse(scram.handleServerFirst(cont.body.subarray(4))));
  const reply = await reader.next();
  if (reply.type !== 'R') return { final: reply, verified: false };
  expect(reply.body.readInt32BE(0)).toBe(12); // AuthenticationSASLFinal
  scram.verifyServerFinal(reply.body.subarray(4));
  return { final: await reader.next(), verified: scram.verified };
}

describe('SCRAM client against the real PostgreSQL', () => {
  it('logs in and reaches AuthenticationOk', async () => {
    const { final, verified } = await scramLogin(testPg().password);
    expect(verified).toBe(true);
    expect(final.type).toBe('R');
    expect(final.body.readInt32BE(0)).toBe(0); // AuthenticationOk
  });

  it('gets 28P01 with a wrong password', async () => {
    const { final } = await scramLogin('not-the-password');
    expect(final.type).toBe('E');
    expect(errorFields(final.body).C).toBe('28P01');
  });

  it('logs in through the upstream state machine up to ReadyForQuery', async () => {
    const pg = testPg();
    const { sock, reader } = await open();
    const auth = createUpstreamAuth({
      user: pg.user,
      password: pg.password,
      allow: ['scram-sha-256'],
    });
    const sent: Buffer[] = [];
    for (;;) {
      const m = await reader.next();
      if (m.type === 'Z') break;
      if (m.type !== 'R') continue; // ParameterStatus, BackendKeyData
      const reply = auth.handle(m.body.readInt32BE(0), m.body.subarray(4));
      const bytes = encodeUpstreamAuthReply(reply);
      if (bytes) {
        sent.push(bytes);
        sock.write(bytes);
      }
    }
    expect(sent).toHaveLength(2);
    expect(sent[0][0]).toBe(0x70);
  });
});
