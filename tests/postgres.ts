import pg from 'pg'

/**
 * The PostgreSQL the tests use: RECIPES_TEST_PG, a URL of a user that may create databases
 * (`.ci/run` starts a cluster on loopback and sets it). Without it the PostgreSQL tests are
 * skipped, except in CI (CI=true), where a missing server is a failure, not a skip.
 */
export const TEST_PG = process.env.RECIPES_TEST_PG || undefined
if (!TEST_PG && process.env.CI === 'true')
  throw new Error(
    'RECIPES_TEST_PG is not set: .ci/run starts PostgreSQL and sets it; the PostgreSQL tests must run in CI',
  )

/** Whether to skip the PostgreSQL tests (no server configured, outside CI). */
export const noPostgres = TEST_PG === undefined

let counter = 0

/**
 * A new empty database on the test server, its URL, and a function that drops it. Its name
 * says which test file made it, so a failed run's leftovers can be told apart.
 */
export async function freshDatabase(label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new URL(TEST_PG!)
  const name = `recipes_${label.replace(/\W+/g, '_')}_${process.pid}_${++counter}`.toLowerCase().slice(0, 60)
  await withClient(admin.href, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name}`)
    await client.query(`CREATE DATABASE ${name}`)
  })
  const url = new URL(admin.href)
  url.pathname = `/${name}`
  return {
    url: url.href,
    drop: () => dropDatabase(admin.href, name),
  }
}

/** Runs `work` with a connection to `url`, closed after. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/** The rows of `sql` on `url`. */
export function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(url, async (client) => (await client.query(sql, params)).rows as T[])
}

/**
 * Drops a test database once its connections are gone. The server may still be ending a
 * closed store's session, or an autovacuum worker (not ours to terminate) may be in it: a few
 * tries, then it is left for the next run's server (cleanup never fails a test).
 */
async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name}`))
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  }
}

/**
 * Another session holds an exclusive lock on `table` for `ms` (it sleeps and commits by itself:
 * nothing in this process has to run for the lock to end); resolves once the lock is granted.
 * `release` waits for that session to end.
 */
export async function holdTableLock(url: string, table: string, ms: number): Promise<{ release: () => Promise<void> }> {
  const locker = new pg.Client({ connectionString: url })
  await locker.connect()
  const locked = locker.query(
    `BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(${ms / 1000}); COMMIT`,
  )
  for (let tries = 0; tries < 50; tries++) {
    const held = await query(
      url,
      'SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = $1 AND l.granted AND l.mode = $2',
      [table, 'AccessExclusiveLock'],
    )
    if (held.length > 0) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return {
    release: async () => {
      await locked.catch(() => undefined)
      await locker.end()
    },
  }
}
