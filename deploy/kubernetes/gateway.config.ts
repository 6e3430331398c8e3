// Config for the Kubernetes example (portcullis.yaml): make the ConfigMap from this file and
// the policy with
//   kubectl create configmap portcullis-config \
//     --from-file=gateway.config.ts --from-file=policies.rego
import { defineConfig, s3Sink } from 'portcullis';

export default defineConfig({
  listen: { host: '0.0.0.0', port: 6432, tls: { cert: '/tls/tls.crt', key: '/tls/tls.key' } },
  // The kubelet's probes come from outside the pod: the admin port listens beyond loopback,
  // and the routes that show recordings need the token.
  admin: { host: '0.0.0.0', port: 9187, token: { env: 'PORTCULLIS_ADMIN_TOKEN' } },
  upstream: {
    targets: {
      main: {
        host: 'postgres.database.svc',
        database: 'app',
        user: 'portcullis',
        password: { env: 'PORTCULLIS_DB_PASSWORD' },
        tls: 'verify-full',
        ca: '/tls/ca.crt',
      },
    },
    routes: { '*': 'main' },
  },
  auth: {
    jwt: {
      jwks: { url: 'https://idp.example/.well-known/jwks.json' },
      issuer: 'https://idp.example/',
      audience: 'portcullis',
    },
  },
  policy: { files: ['policies.rego'] },
  // The spool (/data, an emptyDir) only buffers: segments are shipped to S3, which keeps
  // the recording when a pod goes. Segments not yet shipped go with the pod; use a
  // StatefulSet with a volume per pod where an S3 outage may outlast one.
  recording: {
    signingKey: { env: 'PORTCULLIS_RECORDING_KEY' },
    sinks: [s3Sink({ bucket: 'portcullis-audit', prefix: 'recordings/' })],
  },
  dataDir: '/data',
});
