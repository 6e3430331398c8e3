#!/usr/bin/env node
// The `portcullis` command: the bundled build when present, else the TypeScript sources.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/portcullis.mjs', import.meta.url));
if (existsSync(dist)) {
  const { main } = await import(dist);
  run(main);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  run(main);
}

function run(main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0 || process.argv[2] !== 'start') process.exit(code);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
