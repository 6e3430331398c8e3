// `portcullis policy test|eval`: run Rego test_ rules like `opa test`; explain a decision.
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { regoEngine } from '../policy/rego-engine.js';
import { explain } from '../policy/explain.js';
import { readRegoSources } from '../runtime/policy.js';
import { explainInputs } from '../runtime/explain-input.js';
import { configuredSession } from '../session/params.js';
import { initSql } from '../sql/index.js';

export async function policyCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'test') return testCommand(rest);
  if (sub === 'eval') return evalCommand(rest);
  process.stderr.write(
    'usage: portcullis policy test [FILES...] | policy eval --sql SQL [--identity JSON]\n',
  );
  return 2;
}

async function testCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, verbose: { type: 'boolean', short: 'v' } },
  });
  let files = positionals;
  let baseDir = process.cwd();
  let data: Record<string, unknown> | undefined;
  if (files.length === 0) {
    const { config, filepath } = await loadConfig(values.config);
    baseDir = filepath ? dirname(filepath) : process.cwd();
    files = config.policy?.files ?? ['policies.rego'];
    data = config.policy?.data;
  }
  const engine = regoEngine(readRegoSources(files, baseDir), data);
  const results = engine.compiled.runTests();
  let failed = 0;
  for (const r of results) {
    if (!r.pass) failed++;
    if (!r.pass || values.verbose) {
      process.stdout.write(
        `${r.pass ? 'PASS' : 'FAIL'}: ${r.name} (${r.durationMs.toFixed(1)}ms)${r.error ? ' ' + r.error : ''}\n`,
      );
    }
  }
  process.stdout.write(
    `${'-'.repeat(60)}\n${failed ? 'FAIL' : 'PASS'}: ${results.length - failed}/${results.length}\n`,
  );
  return failed || results.length === 0 ? 1 : 0;
}

async function evalCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      sql: { type: 'string' },
      identity: { type: 'string' },
      config: { type: 'string' },
      database: { type: 'string' },
    },
  });
  if (!values.sql) {
    process.stderr.write('portcullis policy eval: --sql is required\n');
    return 2;
  }
  await initSql();
  const { config, filepath } = await loadConfig(values.config);
  const baseDir = filepath ? dirname(filepath) : process.cwd();
  const engine = regoEngine(
    readRegoSources(config.policy?.files ?? ['policies.rego'], baseDir),
    config.policy?.data,
  );
  const identity = values.identity ? JSON.parse(values.identity) : {};
  const { searchPath, pinned } = configuredSession(config.session ?? {});
  const { inputs, error } = explainInputs(values.sql, identity, {
    searchPath,
    database: values.database,
    session: { pinned },
  });
  if (error) {
    process.stdout.write(
      JSON.stringify({ decision: { kind: 'deny', reasons: [`parse error: ${error}`] } }, null, 2) +
        '\n',
    );
    return 0;
  }
  const out = inputs.map((input) => ({
    statement: input.statement?.text,
    ...explain(engine, input),
  }));
  process.stdout.write(JSON.stringify(out.length === 1 ? out[0] : out, null, 2) + '\n');
  return 0;
}
