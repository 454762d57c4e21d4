import { resolve } from 'node:path'
import Database from 'better-sqlite3'

/**
 * The SQL interface of the run store, asynchronous, over SQLite (better-sqlite3, synchronous
 * underneath) and PostgreSQL (`pg` on the event loop: postgres/connection.ts). The store's
 * SQL is written once for both: `?` placeholders (numbered for PostgreSQL by its connection),
 * `INSERT … ON CONFLICT`, quoted camelCase aliases, `rowid` on runs (a column in PostgreSQL);
 * what differs (JSON functions, statistics) asks `dialect`.
 *
 * No query builder (Kysely was weighed): every query is already written once for both
 * dialects, with a handful of `dialect` switches for JSON and the server's statistics;
 * a builder would rewrite each of them, and those switches would stay (JSON paths,
 * pg_stat_activity, PRAGMA data_version, advisory locks are outside what it models), so it
 * would add a dependency and a second way of writing SQL for no query that gets simpler.
 */

export type SqlDialect = 'sqlite' | 'postgres'

/** What a statement changed. */
export interface SqlResult {
  changes: number
}

/** Statements, one at a time; in a transaction they are part of it. */
export interface SqlRunner {
  readonly dialect: SqlDialect
  run(sql: string, params?: readonly unknown[]): Promise<SqlResult>
  get<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T | undefined>
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>
  /** Several statements without parameters (a migration). */
  exec(sql: string): Promise<void>
  /**
   * `fn` in one transaction, given the transaction's handle (rolled back when it throws);
   * `immediate` takes the store's write lock first, so concurrent writers queue. A
   * transaction inside another (through its handle) is part of it.
   */
  transaction<R>(fn: (tx: SqlRunner) => Promise<R>, options?: { immediate?: boolean }): Promise<R>
}

export interface SqlConnection extends SqlRunner {
  /** The rows of `sql` a few at a time, never all held at once (a long run's ctx history). */
  iterate<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): AsyncIterable<T>
  close(): Promise<void>
}

/**
 * A better-sqlite3 database as a SqlConnection. Its calls are synchronous; transactions are
 * asynchronous functions, so they run one at a time through a queue: a statement of another
 * caller never lands inside an open transaction. Iterations read through a read-only
 * connection of their own (WAL: a consistent snapshot, and this one stays free meanwhile).
 */
export function sqliteConnection(db: Database.Database, file: string): SqlConnection {
  const statements = new Map<string, Database.Statement>()
  const prepare = (sql: string) => {
    let statement = statements.get(sql)
    if (!statement) {
      statement = db.prepare(sql)
      statements.set(sql, statement)
    }
    return statement
  }
  const args = (params: readonly unknown[]) => params.map(sqliteValue)
  const direct: SqlRunner = {
    dialect: 'sqlite',
    run: async (sql, params = []) => ({ changes: prepare(sql).run(...args(params)).changes }),
    get: async <T>(sql: string, params: readonly unknown[] = []) => prepare(sql).get(...args(params)) as T | undefined,
    all: async <T>(sql: string, params: readonly unknown[] = []) => prepare(sql).all(...args(params)) as T[],
    exec: async (sql) => {
      db.exec(sql)
    },
    // Inside the transaction already open: part of it.
    transaction: (fn) => fn(direct),
  }
  const queue = queueOf(file)
  /** `work` once everything queued before it on this file, by any connection of this process, is done. */
  const queued = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.tail.then(work, work)
    queue.tail = result.catch(() => undefined)
    return result
  }
  return {
    dialect: 'sqlite',
    run: (sql, params) => queued(() => direct.run(sql, params)),
    get: (sql, params) => queued(() => direct.get(sql, params)),
    all: (sql, params) => queued(() => direct.all(sql, params)),
    exec: (sql) => queued(() => direct.exec(sql)),
    transaction: (fn, options = {}) =>
      queued(async () => {
        // IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read lock.
        db.exec(options.immediate ? 'BEGIN IMMEDIATE' : 'BEGIN')
        try {
          const result = await fn(direct)
          db.exec('COMMIT')
          return result
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK')
          throw error
        }
      }),
    iterate: <T>(sql: string, params: readonly unknown[] = []): AsyncIterable<T> => ({
      async *[Symbol.asyncIterator]() {
        const reader = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 })
        try {
          for (const row of reader.prepare(sql).iterate(...args(params))) yield row as T
        } finally {
          reader.close()
        }
      },
    }),
    close: () =>
      queued(async () => {
        db.close()
      }),
  }
}

/**
 * One queue per database file in this process, shared by its connections (the store keeper's,
 * the reporter's, the lock service's). A transaction's statements are awaited, so other code
 * runs between them while it holds the write lock: another connection of the same process
 * writing then would wait for that lock synchronously (better-sqlite3's busy timeout blocks the
 * thread), and the transaction could not go on to release it: both stood still for the 10 s
 * timeout (the dashboard saw a finished step 10 s late). Queued, the other connection waits
 * its turn without blocking the thread.
 */
const fileQueues = new Map<string, { tail: Promise<unknown> }>()

function queueOf(file: string): { tail: Promise<unknown> } {
  const key = resolve(file)
  let queue = fileQueues.get(key)
  if (!queue) fileQueues.set(key, (queue = { tail: Promise.resolve() }))
  return queue
}

/** Values as SQLite binds them: booleans as 0/1, undefined as NULL. */
function sqliteValue(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'boolean') return value ? 1 : 0
  return value
}
