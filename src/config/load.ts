// Finds and loads gateway.config.ts (or .mjs/.js/.json) with cosmiconfig; TypeScript is
// compiled with esbuild into a temporary ES module first.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, defaultLoaders, type Loader } from 'cosmiconfig';
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
function packagesFrom(configDir: string, pin = false): Plugin {
  const fromConfig = createRequire(join(configDir, 'config.js'));
  return {
    name: 'portcullis-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (isBuiltin(args.path)) return { external: true };
        try {
          const found = fromConfig.resolve(args.path);
          // Pinned when the compiled config is written elsewhere than the config's folder.
          return pin ? { external: true, path: pathToFileURL(found).href } : { external: true };
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

/** Where a loaded config finds the gateway's config API (see `gatewayApi`). */
const API = Symbol.for('portcullis.config-api');
const API_NAMES = ['defineConfig', 'env', 'file', 'fileSink', 's3Sink', 'stdoutSink'];

/**
 * `import { defineConfig, s3Sink } from 'portcullis'` (or 'portcullis/config') is this
 * gateway's own config API, wherever the config lives and whether the gateway runs from
 * source or from the bundle: the import becomes a module that reads it from a global the
 * loader sets before importing the config. `used.yes` says whether the config imported it.
 */
function gatewayApi(used: { yes: boolean }): Plugin {
  return {
    name: 'portcullis-api',
    setup(b) {
      b.onResolve({ filter: /^portcullis(\/config)?$/ }, (args) => {
        used.yes = true;
        return { path: args.path, namespace: 'portcullis-api' };
      });
      b.onLoad({ filter: /.*/, namespace: 'portcullis-api' }, () => ({
        contents: `export const { ${API_NAMES.join(', ')} } = globalThis[Symbol.for(${JSON.stringify(API.description)})];\n`,
        loader: 'js',
      }));
    },
  };
}

async function provideGatewayApi(): Promise<void> {
  const g = globalThis as { [API]?: Record<string, unknown> };
  if (g[API]) return;
  const [define, record] = await Promise.all([import('./define.js'), import('../record/index.js')]);
  const api: Record<string, unknown> = { ...define, ...record };
  g[API] = Object.fromEntries(API_NAMES.map((n) => [n, api[n]]));
}

/** The config and the local files it imports, as one ES module (packages stay imports). */
async function compile(filepath: string, api: { yes: boolean }, pin = false): Promise<string> {
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
    plugins: [gatewayApi(api), packagesFrom(dirname(filepath), pin)],
    absWorkingDir: dirname(filepath),
    metafile: true,
  });
  localInputs.set(
    filepath,
    Object.keys(out.metafile.inputs)
      .filter((f) => !f.includes(':'))
      .map((f) => resolve(dirname(filepath), f)),
  );
  return out.outputFiles[0].text;
}

/** Per compiled config: the local files it was built from (itself and what it imports). */
const localInputs = new Map<string, string[]>();

/** Per config file last loaded: the files its `$import` names (merged in by cosmiconfig). */
const importsOf = new Map<string, string[]>();

/** A loader that also notes what the file's `$import` names, resolved against its folder. */
function notingImports(loader: Loader): Loader {
  return async (filepath, content) => {
    const out: unknown = await loader(filepath, content);
    const named =
      out && typeof out === 'object' ? (out as Record<string, unknown>).$import : undefined;
    const list = (Array.isArray(named) ? named : [named]).filter(
      (p): p is string => typeof p === 'string',
    );
    importsOf.set(
      filepath,
      list.map((p) => resolve(dirname(filepath), p)),
    );
    return out;
  };
}

/**
 * The local files a config was last loaded from, for a watcher: the config, the files a
 * TypeScript config imports, and the files `$import` merges in (and theirs).
 */
export function configInputs(filepath: string): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const g of localInputs.get(f) ?? [f]) out.add(g);
    for (const i of importsOf.get(f) ?? []) visit(i);
  };
  visit(filepath);
  return [...out];
}

/**
 * What a running gateway watches to reload: the config and the local files it imports, and
 * the policy it runs (the wasm bundle when `policy.wasm` is set, which replaces `files`;
 * else the Rego files or folders), resolved against `baseDir`.
 */
export function reloadInputs(
  configFile: string | undefined,
  config: GatewayConfig,
  baseDir: string,
): string[] {
  const policy = config.policy?.wasm
    ? [config.policy.wasm]
    : (config.policy?.files ?? ['policies.rego']);
  return [
    ...(configFile ? configInputs(configFile) : []),
    ...policy.map((f) => resolve(baseDir, f)),
  ];
}

const loadTs: Loader = async (filepath) => {
  const api = { yes: false };
  const text = await compile(filepath, api);
  // Written beside the config so that its package imports resolve from the same folder.
  let file = join(dirname(filepath), `.portcullis-config-${process.pid}-${Date.now()}.mjs`);
  let tmp: string | undefined;
  try {
    writeFileSync(file, text, { mode: 0o600 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw err;
    // A read-only folder (a Kubernetes ConfigMap is mounted so): compiled again with every
    // package import pinned to the file it resolves to from the config's folder, and
    // written to a private temporary folder.
    tmp = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
    file = join(tmp, 'gateway.config.mjs');
    writeFileSync(file, await compile(filepath, api, true), { mode: 0o600 });
  }
  try {
    if (api.yes) await provideGatewayApi();
    const mod = await import(pathToFileURL(file).href);
    return mod.default ?? mod;
  } finally {
    rmSync(tmp ?? file, { force: true, recursive: true });
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
    loaders: Object.fromEntries(
      Object.entries({ ...defaultLoaders, '.ts': loadTs, '.mts': loadTs }).map(([ext, l]) => [
        ext,
        notingImports(l),
      ]),
    ),
    cache: false,
    searchStrategy: 'none',
  });
}

const MAX_ERROR_LINES = 40;
const MAX_ERROR_CHARS = 4000;

interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number } | null;
}

/**
 * The whole message, bounded. esbuild's says "Build failed with N errors:" and lists the
 * first few; every error is listed here, as esbuild writes them (`file:line:column: ERROR:
 * text`), one to a line.
 */
/**
 * A parser's excerpt of the file (cosmiconfig's code frame: `  1 | {"admin": …`, `    | ^`):
 * left out, as the file may hold an inline secret; the line and column are in the message.
 */
const CODE_FRAME = /^\s*(>\s*)?\d*\s*\|/;
/** Terminal colour codes: the code frame is highlighted when the output looks like a terminal. */
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/** JSON.parse quotes the text around where it failed (`while parsing '{"a…'`, `..."d": x"...`). */
function unquoteSource(line: string): string {
  return line
    .replace(/ while parsing '.*$/, '')
    .replace(/, \.\.\.".*?"\.\.\. is not valid JSON/, ' is not valid JSON')
    .replace(/"[^"]*" is not valid JSON/, 'the text is not valid JSON');
}

/**
 * esbuild quotes the token it stopped at (`Expected "}" but found "'<token>'"`): a string
 * literal there may be an inline secret, so it is left out (a keyword or punctuation stays).
 * The line and column say where.
 */
function unquoteToken(text: string): string {
  return text
    .replace(/ but found "(['`]|\\").*"$/s, ' but found a string')
    .replace(/^Unexpected "(['`]|\\").*"$/s, 'Unexpected string');
}

function loadError(err: unknown): string {
  const e = err as { message?: string; errors?: EsbuildMessage[] } | undefined;
  const message = (e?.message ?? String(err)).replace(ANSI, '').trimEnd();
  const lines = Array.isArray(e?.errors)
    ? [
        message.split('\n')[0],
        ...e.errors.map(
          (m) =>
            `${m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : ''}ERROR: ${unquoteToken(m.text)}`,
        ),
      ]
    : message
        .split('\n')
        .filter((l) => l.trim() !== '' && !CODE_FRAME.test(l))
        .map(unquoteSource);
  let text = lines.slice(0, MAX_ERROR_LINES).join('\n  ');
  if (lines.length > MAX_ERROR_LINES) text += `\n  … (${lines.length - MAX_ERROR_LINES} more)`;
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)} …` : text;
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
    throw new ConfigError(`cannot load ${file ?? 'gateway.config.ts'}: ${loadError(err)}`);
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
