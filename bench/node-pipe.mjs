// The Node TCP pipe peer: what Node's sockets alone cost. Usage: node-pipe.mjs PORT UPHOST UPPORT
import net from 'node:net';

const [port, upHost, upPort] = process.argv.slice(2);
const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ host: upHost, port: Number(upPort), noDelay: true });
  const close = () => (client.destroy(), up.destroy());
  for (const s of [client, up]) s.on('error', close).on('close', close);
  client.pipe(up).pipe(client);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`node-pipe ready on ${port}`));
process.on('SIGTERM', () => process.exit(0));
