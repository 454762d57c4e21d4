// The PostgreSQL server the benchmarks may use: --postgres URL, else RECIPES_BENCH_PG, else
// RECIPES_TEST_PG (what .ci/run sets). Each benchmark works in a database of its own, created
// for it and dropped after, so the URL's user needs CREATEDB; a shared store is never touched.
import pg from 'pg'

export function postgresUrlOf(flag) {
  return flag || process.env.RECIPES_BENCH_PG || process.env.RECIPES_TEST_PG || undefined
}

/** A new database on the server of `url`; returns its URL and a function that drops it. */
export async function scratchDatabase(url, label) {
  const name = `recipes_bench_${label}_${process.pid}`
  const admin = async (sql) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`DROP DATABASE IF EXISTS ${name}`)
  await admin(`CREATE DATABASE ${name}`)
  const scratch = new URL(url)
  scratch.pathname = `/${name}`
  return { url: scratch.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** Runs `sql` on `url` (a row of the benchmark's own database, changed from outside the store). */
export async function runSql(url, sql, params = []) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows
  } finally {
    await client.end()
  }
}
