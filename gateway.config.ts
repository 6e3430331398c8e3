// Portcullis configuration. With no `upstream`, `npm start` runs an embedded PostgreSQL
// with a demo schema. See README.md for pointing the gateway at a real database.
import { defineConfig } from './src/config/index.js';

export default defineConfig({
  listen: { host: '127.0.0.1', port: 6432 },
  admin: { host: '127.0.0.1', port: 9187 },
  // upstream: {
  //   targets: {
  //     main: { host: 'db.internal', database: 'app', user: 'portcullis', password: { env: 'PORTCULLIS_DB_PASSWORD' }, tls: 'verify-full' },
  //   },
  //   routes: { '*': 'main' },
  // },
  auth: {
    // The local development key (`portcullis token` mints tokens for it). In production:
    // jwt: { jwks: { url: 'https://idp.example/.well-known/jwks.json' }, issuer: 'https://idp.example/', audience: 'portcullis' },
    jwt: { jwks: { dev: true } },
  },
  policy: { files: ['policies.rego'] },
  recording: { enabled: true, durability: 'fsync' },
  session: { searchPath: ['public'] },
});
