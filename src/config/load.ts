// Finds and loads gateway.config.ts (or .mjs/.js/.json) with cosmiconfig; TypeScript is
// compiled with esbuild into a temporary ES module first.
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import type { Plugin } from 'esbuild';
import type { GatewayConfig } from './types.js';
import { validateConfig } from './validate.js';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length ? `${message}\n  - ${problems.join('\n  - ')}` : message);
  }
}

/**
 * Package imports stay imports. One that does not resolve from the config's folder (a config
 * kept outside the project that imports `defineConfig` by relative path pulls in this
 * stage's own packages) is pinned to the file the importing source resolves it to.
 */
function packagesFrom(configDir: string): Plugin {
  const fromConfig = createRequire(join(configDir, 'config.js'));
  return {
    name: 'portcullis-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (isBuiltin(args.path)) return { external: true };
        try {
          fromConfig.resolve(args.path);
          return { external: true };
        } catch {
          // Not installed beside the config: try where the importing file lives.
        }
        try {
          const file = createRequire(join(args.resolveDir, 'importer.js')).resolve(args.path);
          return { external: true, path: pathToFileURL(file).href };
        } catch {
          return { external: true };
        }
      });
    },
  };
}

const loadTs: Loader = async (filepath) => {
  // Loaded on demand: a bundled gateway with a .mjs or .json config runs without esbuild.
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [filepath],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // Packages stay imports (resolved from the config's folder); local files are inlined.
    plugins: [packagesFrom(dirname(filepath))],
    absWorkingDir: dirname(filepath),
  });
  // Written beside the config so that its package imports resolve from the same folder.
  const file = join(dirname(filepath), `.portcullis-config-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(file, out.outputFiles[0].text);
  try {
    const mod = await import(pathToFileURL(file).href);
    return mod.default ?? mod;
  } finally {
    rmSync(file, { force: true });
  }
};

const SEARCH = [
  'gateway.config.ts',
  'gateway.config.mjs',
  'gateway.config.js',
  'gateway.config.json',
];

function explorer() {
  return cosmiconfig('portcullis', {
    searchPlaces: SEARCH,
    loaders: { '.ts': loadTs, '.mts': loadTs },
    cache: false,
    searchStrategy: 'none',
  });
}

export interface LoadedConfig {
  config: GatewayConfig;
  /** The file it came from, or undefined when no config file exists (defaults). */
  filepath: string | undefined;
}

/** Load and validate a config file (an explicit path, or searched from `cwd`). */
export async function loadConfig(file?: string, cwd = process.cwd()): Promise<LoadedConfig> {
  let result;
  try {
    result = file ? await explorer().load(resolve(cwd, file)) : await explorer().search(cwd);
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    throw new ConfigError(`cannot load ${file ?? 'gateway.config.ts'}: ${msg.split('\n')[0]}`);
  }
  if (!result) {
    if (file) throw new ConfigError(`config file not found: ${file}`);
    return { config: {}, filepath: undefined };
  }
  const config = (result.config ?? {}) as GatewayConfig;
  const problems = validateConfig(config);
  if (problems.length)
    throw new ConfigError(`invalid configuration in ${result.filepath}`, problems);
  return { config, filepath: result.filepath };
}
