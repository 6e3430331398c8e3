// The `portcullis` command: start, check, token, apikey, policy, replay, verify.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { log } from '../util/logger.js';

const USAGE = `usage: portcullis <command> [options]

commands:
  start   [--config FILE]                 run the gateway (embedded PostgreSQL when no upstream is configured)
  check   [--config FILE] [--strict]      validate the config and compile the policy; secrets it
                                          cannot read are warnings (errors with --strict)
  token   --sub NAME [--groups a,b] [--email E] [--agent ID] [--ttl SECONDS] [--config FILE]
                                          mint a short-lived token with the local development key
  apikey  --id NAME                       generate an API key and the hash to put in the config
  policy test [FILES...]                  run the policy's test_ rules
  policy replay --policy DIR [--since TIME]
                                          re-decide recorded statements under a candidate policy
  policy eval --sql SQL [--identity JSON] [--config FILE]
                                          print the decision for a statement and the rules behind it
  replay  <session-id> [--dir DIR]        print a recorded session as a timeline
  replay  --list [--identity SUB]         list recorded sessions
  verify  [--dir DIR]                     check recording chains and signatures
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'start':
        return await (await import('./start.js')).startCommand(rest);
      case 'check':
        return await (await import('./commands/check.js')).checkCommand(rest);
      case 'token':
        return await tokenCommand(rest);
      case 'apikey':
        return await apikeyCommand(rest);
      case 'policy':
        if (rest[0] === 'replay') {
          const { policyReplayCommand } = await import('./commands/policy-replay.js');
          const ctx = await recordingContext(rest);
          const data = (ctx.config as GatewayConfig).policy?.data;
          return await policyReplayCommand(rest, {
            ...ctx,
            engineFactory: (dir: string) => policyFromDir(dir, data),
          });
        }
        return await (await import('./policy.js')).policyCommand(rest);
      case 'replay':
        return await (
          await import('./commands/replay.js')
        ).replayCommand(rest, await recordingContext(rest));
      case 'verify':
        return await (
          await import('./commands/verify.js')
        ).verifyCommand(rest, await recordingContext(rest));
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        process.stderr.write(`portcullis: unknown command "${cmd}"\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`portcullis: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`portcullis: ${(err as Error).message}\n`);
    return 1;
  }
}

/** Config, base dir and checkpoint public key for the recording commands. */
async function recordingContext(args: string[]) {
  const i = args.indexOf('--config');
  const { config, filepath } = await loadConfig(i >= 0 ? args[i + 1] : undefined);
  const baseDir = filepath ? dirname(filepath) : process.cwd();
  const { loadOrCreateDevKey } = await import('../auth/index.js');
  const { existsSync } = await import('node:fs');
  const dataDir = resolve(baseDir, config.dataDir ?? '.data');
  // The configured signing key (a private key verifies its own signatures), else the
  // development key the gateway made.
  const { readSecret } = await import('../config/index.js');
  const secret =
    config.recording?.signingKey === undefined
      ? undefined
      : readSecret(config.recording.signingKey, 'recording.signingKey', baseDir);
  const { signingKeyOf } = await import('../runtime/recording.js');
  const publicKey = secret
    ? signingKeyOf(secret)
    : existsSync(resolve(dataDir, 'dev-signing-key.json'))
      ? ((await loadOrCreateDevKey(dataDir)).publicJwks.keys[0] as Record<string, unknown>)
      : undefined;
  if (i >= 0) args.splice(i, 2);
  return { config: config as never, baseDir, publicKey };
}

/**
 * A candidate policy as the gateway would load it: its Rego files with the config's
 * `policy.data`, refused when its own test_ rules fail.
 */
async function policyFromDir(dir: string, data: Record<string, unknown> | undefined) {
  const { loadPolicy } = await import('../runtime/policy.js');
  return loadPolicy({ files: [dir], data }, process.cwd());
}

async function tokenCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      groups: { type: 'string' },
      email: { type: 'string' },
      agent: { type: 'string' },
      ttl: { type: 'string' },
      config: { type: 'string' },
    },
  });
  if (!values.sub) {
    process.stderr.write('portcullis token: --sub is required\n');
    return 2;
  }
  const { config, filepath } = await loadConfig(values.config);
  const { trustsDevKey } = await import('../runtime/snapshot.js');
  if (!trustsDevKey(config)) {
    // The gateway this config runs would refuse the token: say so rather than print one.
    process.stderr.write(
      `portcullis token: ${filepath ?? 'the configuration'} does not trust the development key ` +
        `(auth.jwt names other keys, or only API keys are configured): a token it signs would be refused; ` +
        `get one from your identity provider\n`,
    );
    return 1;
  }
  const dataDir = resolve(filepath ? dirname(filepath) : process.cwd(), config.dataDir ?? '.data');
  const { loadOrCreateDevKey, mintToken, DEV_AUDIENCE, DEV_ISSUER } =
    await import('../auth/index.js');
  const key = await loadOrCreateDevKey(dataDir);
  const token = await mintToken(key, {
    sub: values.sub,
    groups: values.groups
      ? values.groups
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean)
      : undefined,
    email: values.email,
    agent: values.agent,
    ttlSeconds: values.ttl ? Number(values.ttl) : 3600,
    issuer: DEV_ISSUER,
    audience: DEV_AUDIENCE,
  });
  process.stdout.write(token + '\n');
  return 0;
}

async function apikeyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { id: { type: 'string' } } });
  if (!values.id) {
    process.stderr.write('portcullis apikey: --id is required\n');
    return 2;
  }
  const { generateApiKey } = await import('../auth/index.js');
  const k = generateApiKey(values.id);
  process.stdout.write(`key:  ${k.key}\nhash: ${k.hash}\n`);
  return 0;
}

// Run when this file is the entry point (tsx src/cli/main.ts, or node on the bundle under
// any name); the bin script imports main() instead.
function isEntryPoint(): boolean {
  const invoked = process.argv[1];
  if (!invoked) return false;
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0 || process.argv[2] !== 'start') process.exit(code);
    },
    (err) => {
      log.error('fatal', { err });
      process.exit(1);
    },
  );
}
