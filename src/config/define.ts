// defineConfig: the typed entry point of gateway.config.ts.
import type { GatewayConfig } from './types.js';

/**
 * Declare the gateway configuration with full type checking.
 *
 * @example
 * import { defineConfig } from 'portcullis';
 * export default defineConfig({
 *   listen: { port: 6432 },
 *   upstream: { targets: { main: { host: 'db', database: 'app', user: 'gw', password: { env: 'PGPASSWORD' } } } },
 *   auth: { jwt: { jwks: { url: 'https://idp.example/.well-known/jwks.json' }, issuer: 'https://idp.example/', audience: 'portcullis' } },
 * });
 */
export function defineConfig(config: GatewayConfig): GatewayConfig {
  return config;
}

/** A secret read from an environment variable when the gateway starts. */
export const env = (name: string) => ({ env: name });
/** A secret read from a file (e.g. a mounted Kubernetes secret). */
export const file = (path: string) => ({ file: path });
