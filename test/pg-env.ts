// Connection facts of the run's PostgreSQL, as set by test/global-setup.ts.
export interface TestPg {
  host: string;
  port: number;
  user: string;
  password: string;
  dataDir: string;
}

export function testPg(): TestPg {
  const e = process.env;
  if (!e.PORTCULLIS_TEST_PG_PORT) throw new Error('test PostgreSQL not started (global setup)');
  return {
    host: e.PORTCULLIS_TEST_PG_HOST ?? '127.0.0.1',
    port: Number(e.PORTCULLIS_TEST_PG_PORT),
    user: e.PORTCULLIS_TEST_PG_USER ?? 'postgres',
    password: e.PORTCULLIS_TEST_PG_PASSWORD ?? '',
    dataDir: e.PORTCULLIS_TEST_PG_DATADIR ?? '',
  };
}
