// Micro-benchmark of the sql stage: cache hit, key scan alone, and cache miss (parse + facts).
import { analyze, clearSqlCache, initSql, scanKey } from '../src/sql/index.js';

await initSql();
const opts = { searchPath: ['public'], database: 'postgres' };

function bench(name: string, n: number, fn: (i: number) => void): void {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name.padEnd(44)} ${(ns / 1000).toFixed(3)} µs/op  (${n} ops)`);
}

const pgbench = (i: number): string =>
  `SELECT abalance FROM pgbench_accounts WHERE aid = ${(i % 100_000) + 1};`;
clearSqlCache();
analyze(pgbench(0), opts);
bench('scanKey (pgbench -S select)', 1_000_000, (i) => void scanKey(pgbench(i)));
bench(
  'analyze hit (pgbench -S select, new literal)',
  1_000_000,
  (i) => void analyze(pgbench(i), opts),
);
const update = (i: number): string =>
  `UPDATE pgbench_accounts SET abalance = abalance + ${i % 5000} WHERE aid = ${i % 100_000};`;
analyze(update(0), opts);
bench('analyze hit (pgbench update)', 500_000, (i) => void analyze(update(i), opts));
// Misses: distinct identifiers defeat the cache.
bench(
  'analyze miss (parse + facts, simple select)',
  20_000,
  (i) => void analyze(`SELECT abalance FROM pgbench_accounts_${i} WHERE aid = 1`, opts),
);
const join = (i: number): string =>
  `WITH x AS (SELECT id, card FROM customers WHERE id > 1) SELECT o.id, upper(x.card), count(*) FROM orders_${i} o JOIN x ON x.id = o.customer_id WHERE o.status IN ('a', 'b') GROUP BY 1, 2 ORDER BY 3 DESC`;
bench('analyze miss (CTE + join + aggregates)', 10_000, (i) => void analyze(join(i), opts));
