import type Database from 'better-sqlite3'

/**
 * The part of a SQL connection the run store uses: better-sqlite3's synchronous API, which
 * the PostgreSQL bridge (postgres/bridge.ts) offers too. The store's SQL is written once for
 * both: `?` placeholders, `INSERT … ON CONFLICT`, quoted camelCase aliases, `rowid` on runs
 * (a column in PostgreSQL); what differs (JSON functions) asks `dialect`.
 */
export interface SqlStatement {
  run(...params: unknown[]): unknown
  get(...params: unknown[]): unknown
  all(...params: unknown[]): unknown[]
  iterate(...params: unknown[]): IterableIterator<unknown>
}

/** A function run in one transaction; `immediate` takes the store's write lock first (concurrent writers queue). */
export interface SqlTransaction<A extends unknown[], R> {
  (...args: A): R
  immediate(...args: A): R
}

export type SqlDialect = 'sqlite' | 'postgres'

export interface SqlConnection {
  readonly dialect: SqlDialect
  prepare(sql: string): SqlStatement
  exec(sql: string): void
  transaction<A extends unknown[], R>(fn: (...args: A) => R): SqlTransaction<A, R>
  close(): void
}

/** A better-sqlite3 database as a SqlConnection (statements and transactions are its own). */
export function sqliteConnection(db: Database.Database): SqlConnection {
  return {
    dialect: 'sqlite',
    prepare: (sql) => db.prepare(sql) as unknown as SqlStatement,
    exec: (sql) => {
      db.exec(sql)
    },
    transaction: <A extends unknown[], R>(fn: (...args: A) => R) =>
      db.transaction(fn) as unknown as SqlTransaction<A, R>,
    close: () => db.close(),
  }
}
