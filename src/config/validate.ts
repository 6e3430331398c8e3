// Config validation: every key known, every value of the right type; errors name the key path.
import { searchPathProblem } from '../sql/names.js';
import type { GatewayConfig } from './types.js';

type Spec =
  | 'string'
  | 'number'
  | 'boolean'
  | 'any'
  | 'function'
  | { enum: readonly unknown[] }
  | { object: Record<string, Spec>; required?: string[] }
  | { array: Spec }
  | { record: Spec }
  | { oneOf: Spec[] };

const secret: Spec = {
  oneOf: [
    { object: { env: 'string' }, required: ['env'] },
    { object: { file: 'string' }, required: ['file'] },
    { object: { value: 'string' }, required: ['value'] },
  ],
};
const strOrList: Spec = { oneOf: ['string', { array: 'string' }] };

const target: Spec = {
  object: {
    host: 'string',
    port: 'number',
    database: 'string',
    user: 'string',
    password: secret,
    tls: { enum: ['disable', 'require', 'verify-full'] },
    ca: 'string',
    maxConnections: 'number',
  },
  required: ['host', 'database', 'user'],
};

const SCHEMA: Spec = {
  object: {
    listen: {
      object: {
        host: 'string',
        port: 'number',
        tls: { object: { cert: 'string', key: 'string', ca: 'string' }, required: ['cert', 'key'] },
        requireTlsForRemote: 'boolean',
        maxClients: 'number',
      },
    },
    admin: { object: { host: 'string', port: 'number', token: secret } },
    upstream: {
      object: {
        targets: { record: target },
        routes: { record: 'string' },
        select: 'function',
        connectTimeoutMs: 'number',
        catalog: { object: { enabled: 'boolean', refreshMs: 'number' } },
      },
      required: ['targets'],
    },
    auth: {
      object: {
        jwt: {
          object: {
            jwks: {
              oneOf: [
                {
                  object: { url: 'string', cacheMaxAgeMs: 'number', allowHttp: 'boolean' },
                  required: ['url'],
                },
                { object: { file: 'string' }, required: ['file'] },
                { object: { keys: 'any' }, required: ['keys'] },
                { object: { dev: { enum: [true] } }, required: ['dev'] },
              ],
            },
            issuer: strOrList,
            audience: strOrList,
            algorithms: { array: 'string' },
            clockToleranceSec: 'number',
            claims: {
              object: {
                sub: 'string',
                email: 'string',
                groups: 'string',
                agent: 'string',
                onBehalfOf: strOrList,
              },
            },
            bindUser: 'string',
          },
          required: ['jwks'],
        },
        apiKeys: {
          array: {
            object: {
              id: 'string',
              hash: 'string',
              sub: 'string',
              groups: { array: 'string' },
              email: 'string',
              agent: 'string',
            },
            required: ['id', 'hash', 'sub'],
          },
        },
        timeoutMs: 'number',
      },
    },
    policy: {
      object: {
        files: { array: 'string' },
        wasm: 'string',
        allowAll: 'boolean',
        data: { record: 'any' },
      },
    },
    recording: {
      object: {
        enabled: 'boolean',
        spoolDir: 'string',
        durability: { enum: ['fsync', 'write', 'off'] },
        failOpen: 'boolean',
        sinks: { array: 'any' },
        signingKey: secret,
      },
    },
    session: {
      object: {
        searchPath: { array: 'string' },
        statementTimeoutMs: 'number',
        idleInTransactionTimeoutMs: 'number',
        maxMessageBytes: 'number',
        maxQueryBytes: 'number',
        maxStatementsPerQuery: 'number',
        messageTimeoutMs: 'number',
        maxClientBacklogBytes: 'number',
        maxHeldInputBytes: 'number',
      },
    },
    dataDir: 'string',
  },
};

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const dp = Array.from({ length: m + 1 }, (_, i) => [i, ...new Array(n).fill(0)]);
  for (let j = 0; j <= n; j++) dp[0][j] = j;
  for (let i = 1; i <= m; i++)
    for (let j = 1; j <= n; j++)
      dp[i][j] = Math.min(
        dp[i - 1][j] + 1,
        dp[i][j - 1] + 1,
        dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return dp[m][n];
}

function check(spec: Spec, v: unknown, path: string, errors: string[]): void {
  const at = path || '(root)';
  if (spec === 'any') return;
  if (spec === 'function') {
    if (typeof v !== 'function') errors.push(`${at}: expected a function, got ${typeName(v)}`);
    return;
  }
  if (spec === 'string' || spec === 'number' || spec === 'boolean') {
    if (typeof v !== spec || (spec === 'number' && !Number.isFinite(v))) {
      errors.push(`${at}: expected a ${spec}, got ${typeName(v)}`);
    }
    return;
  }
  if ('enum' in spec) {
    if (!spec.enum.includes(v))
      errors.push(`${at}: expected one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}`);
    return;
  }
  if ('array' in spec) {
    if (!Array.isArray(v)) return void errors.push(`${at}: expected an array, got ${typeName(v)}`);
    v.forEach((item, i) => check(spec.array, item, `${path}[${i}]`, errors));
    return;
  }
  if ('record' in spec) {
    if (typeName(v) !== 'object')
      return void errors.push(`${at}: expected an object, got ${typeName(v)}`);
    for (const [k, item] of Object.entries(v as object))
      check(spec.record, item, `${path}.${k}`, errors);
    return;
  }
  if ('oneOf' in spec) {
    const attempts = spec.oneOf.map((s) => {
      const e: string[] = [];
      check(s, v, path, e);
      return e;
    });
    if (attempts.some((e) => e.length === 0)) return;
    // Report the alternative that came closest.
    attempts.sort((a, b) => a.length - b.length);
    errors.push(...attempts[0]);
    return;
  }
  if (typeName(v) !== 'object')
    return void errors.push(`${at}: expected an object, got ${typeName(v)}`);
  const obj = v as Record<string, unknown>;
  // A key set through __proto__ (JSON.parse makes it an own key; a literal, the prototype).
  const proto = Object.getPrototypeOf(obj) as unknown;
  if (proto !== Object.prototype && proto !== null)
    errors.push(`${at}: unexpected prototype (a "__proto__" key?)`);
  const known = Object.keys(spec.object);
  for (const k of Object.keys(obj)) {
    // Own keys only: toString, constructor, __proto__ … are no settings.
    if (!Object.hasOwn(spec.object, k)) {
      const hint = closest(k, known);
      errors.push(
        `unknown key "${path ? path + '.' : ''}${k}"${hint ? ` (did you mean "${hint}"?)` : ''}`,
      );
      continue;
    }
    if (obj[k] !== undefined) check(spec.object[k], obj[k], path ? `${path}.${k}` : k, errors);
  }
  for (const r of spec.required ?? []) {
    if (obj[r] === undefined) errors.push(`${path ? path + '.' : ''}${r}: required`);
  }
}

/** Validate a config object; returns the list of problems (empty when valid). */
export function validateConfig(config: unknown): string[] {
  const errors: string[] = [];
  check(SCHEMA, config, '', errors);
  if (errors.length === 0) {
    checkRoutes(config as { upstream?: Record<string, unknown> }, errors);
    checkJwt(config as GatewayConfig, errors);
    checkSinks(config as GatewayConfig, errors);
    checkSearchPath(config as GatewayConfig, errors);
    checkCatalog(config as GatewayConfig, errors);
    checkPorts(config as GatewayConfig, errors);
  }
  return errors;
}

/** Ports are TCP ports (0: any free one). */
function checkPorts(config: GatewayConfig, errors: string[]): void {
  for (const [key, port] of [
    ['listen.port', config.listen?.port],
    ['admin.port', (config.admin as { port?: number } | undefined)?.port],
  ] as const)
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
      errors.push(`${key}: must be a port number, 0 to 65535`);
}

/** Keys from a url, a file or inline need the issuer and audience tokens must carry (start refuses without). */
function checkJwt(config: GatewayConfig, errors: string[]): void {
  const jwt = config.auth?.jwt;
  if (jwt && !('dev' in jwt.jwks) && (!jwt.issuer || !jwt.audience))
    errors.push('auth.jwt: issuer and audience are required');
}

/** The upstream catalog is read again at most once a second. */
function checkCatalog(config: GatewayConfig, errors: string[]): void {
  const ms = config.upstream?.catalog?.refreshMs;
  if (ms !== undefined && !(ms >= 1000))
    errors.push('upstream.catalog.refreshMs: must be a number of ms, at least 1000');
}

/** The search_path is one schema the gateway can read unqualified names against. */
function checkSearchPath(config: GatewayConfig, errors: string[]): void {
  const sp = config.session?.searchPath;
  const problem = sp === undefined ? undefined : searchPathProblem(sp);
  if (problem !== undefined) errors.push(`session.searchPath: ${problem}`);
}

/** Every sink is one (a name and put()); the recorder would retry a bad one for ever. */
function checkSinks(config: GatewayConfig, errors: string[]): void {
  (config.recording?.sinks ?? []).forEach((s, i) => {
    const sink = s as { name?: unknown; put?: unknown } | null;
    if (typeof sink?.put !== 'function' || typeof sink.name !== 'string')
      errors.push(
        `recording.sinks[${i}]: not a sink (expected an object with a name and a put() method, as fileSink(), s3Sink() and stdoutSink() return)`,
      );
  });
}

/** Every route names a configured target (a typo would otherwise pass `check` and fail start). */
function checkRoutes(config: { upstream?: Record<string, unknown> }, errors: string[]): void {
  const up = config.upstream as
    { targets: Record<string, unknown>; routes?: Record<string, string> } | undefined;
  if (!up) return;
  const names = Object.keys(up.targets);
  if (names.length === 0) return void errors.push('upstream.targets: at least one target');
  if (!up.routes) return;
  for (const [db, name] of Object.entries(up.routes)) {
    if (names.includes(name)) continue;
    const hint = closest(name, names);
    errors.push(
      `upstream.routes.${db}: no target named "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}`,
    );
  }
}
