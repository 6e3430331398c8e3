// Micro-benchmark of the sql stage: cache hit, key scan alone, and cache miss (parse + facts).
import { loadavg } from 'node:os';
import { analyze, clearSqlCache, initSql, scanKey, sqlCacheStats } from '../src/sql/index.js';

await initSql();
const opts = { searchPath: ['public'], database: 'postgres' };

function bench(name: string, n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(i); // warm-up
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`${name.padEnd(48)} ${(best / 1000).toFixed(3)} µs/op (best of 3 × ${n})`);
  return best;
}

console.log(
  `node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
// A machine-speed yardstick: the same loop body without any SQL work.
const texts: string[] = [];
for (let i = 0; i < 100_000; i++)
  texts.push(`SELECT abalance FROM pgbench_accounts WHERE aid = ${i + 1};`);
let sink = 0;
bench('baseline (read each char of the text)', 200_000, (i) => {
  const t = texts[i % texts.length];
  for (let j = 0; j < t.length; j++) sink += t.charCodeAt(j);
});

clearSqlCache();
analyze(texts[0], opts);
bench('scanKey (pgbench -S select)', 500_000, (i) => void scanKey(texts[i % texts.length]));
bench(
  'analyze hit (pgbench -S select, new literal)',
  500_000,
  (i) => void analyze(texts[i % texts.length], opts),
);
const updates: string[] = [];
for (let i = 0; i < 10_000; i++)
  updates.push(`UPDATE pgbench_accounts SET abalance = abalance + ${i - 5000} WHERE aid = ${i};`);
analyze(updates[0], opts);
bench(
  'analyze hit (pgbench update)',
  200_000,
  (i) => void analyze(updates[i % updates.length], opts),
);
// Misses: distinct identifiers defeat the cache.
let k = 0;
bench(
  'analyze miss (simple select)',
  5_000,
  () => void analyze(`SELECT abalance FROM pgbench_accounts_${k++} WHERE aid = 1`, opts),
);
bench(
  'analyze miss (CTE + join + aggregates)',
  2_000,
  () =>
    void analyze(
      `WITH x AS (SELECT id, card FROM customers WHERE id > 1) SELECT o.id, upper(x.card), count(*) FROM orders_${k++} o JOIN x ON x.id = o.customer_id WHERE o.status IN ('a', 'b') GROUP BY 1, 2 ORDER BY 3 DESC`,
      opts,
    ),
);
// Not cached (over 64 KiB): a 1 MB string of 1,000 statements, non-ASCII and ASCII.
const manyStatements = (ch: string) =>
  Array.from({ length: 1000 }, () => `SELECT '${ch.repeat(480)}'`).join(';');
const nonAscii = manyStatements('é');
const ascii = manyStatements('e');
const many = { ...opts, maxStatements: 1000 };
bench('analyze 1,000 statements in 1 MB, non-ASCII', 5, () => void analyze(nonAscii, many));
bench('analyze 1,000 statements in 1 MB, ASCII', 5, () => void analyze(ascii, many));
console.log('cache', sqlCacheStats(), sink > 0 ? '' : ' ');
