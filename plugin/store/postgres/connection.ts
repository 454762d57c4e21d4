import pg from 'pg'
import type { SqlConnection, SqlResult, SqlRunner } from '../sql.ts'

/** How long a connection attempt may take before the store gives up. */
export const CONNECT_TIMEOUT_MS = 10_000
/** How long one statement may take (a lock wait in the database included). */
const QUERY_TIMEOUT_MS = 120_000
/** Connections for statements and transactions besides the session: concurrent requests (the dashboard's, the lock service's) do not queue behind one another. */
const POOL_SIZE = 4
/** Rows an iteration fetches at a time from its cursor. */
const FETCH_ROWS = 500

/**
 * The key of the store's write lock (`pg_advisory_xact_lock`): an immediate transaction takes
 * it first, so writers queue as they do on SQLite and the store's read-then-write transactions
 * (resource locks, migrations) see no concurrent writer.
 */
const WRITE_LOCK_KEY = 0x7265_6369 // "reci"

/** What PostgreSQL or the connection said: its message and SQLSTATE code (28P01: login refused). */
export class PostgresError extends Error {
  override name = 'PostgresError'
  readonly code: string | undefined
  constructor(message: string, code: string | undefined) {
    super(message)
    this.code = code
  }
}

// COUNT(*) and BIGINT columns come back as text by default: the store's rows are plain numbers.
// Parsers of these connections only, not of every `pg` user in the process.
const numeric = (text: string) => Number(text)
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC
      ? numeric
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

/**
 * A PostgreSQL database as a SqlConnection, with `pg` on the event loop: nothing waits
 * blocked for the server. Statements and transactions take a connection of a small pool (a
 * transaction keeps its own for its length); iterations read through a cursor. Besides them,
 * one connection lives as long as the store is open and does nothing: its server process id is
 * this process's database `session`, which the server lists (pg_stat_activity) while this
 * process lives and drops when it dies, however it dies. Holds and runs are judged alive by it.
 */
export class PostgresConnection implements SqlConnection {
  readonly dialect = 'postgres'
  /** The server process of the session connection: alive while this process is. */
  readonly session: number
  private readonly pool: pg.Pool
  private readonly sessionClient: pg.Client
  private readonly translated = new Map<string, string>()
  private closed = false
  /** Set when the session connection is lost: the database no longer sees this process alive. */
  private lost: Error | undefined

  private constructor(pool: pg.Pool, sessionClient: pg.Client, session: number) {
    this.pool = pool
    this.sessionClient = sessionClient
    this.session = session
  }

  /** Connects to `url`; throws a PostgresError when the host cannot be reached or refuses the login. */
  static async connect(url: string): Promise<PostgresConnection> {
    const config = {
      connectionString: url,
      application_name: 'vitest-recipes',
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      types,
    }
    const sessionClient = new pg.Client(config)
    // Errors of an idle connection (the server went away) come as events: kept, said at the next statement.
    let lost: Error | undefined
    sessionClient.on('error', (error) => {
      lost = error
    })
    try {
      await sessionClient.connect()
      const row = (await sessionClient.query('SELECT pg_backend_pid() AS session')).rows[0] as { session: number }
      // A store left open must not keep a process alive that is otherwise done (close() ends it too).
      refClient(sessionClient, false)
      const pool = new pg.Pool({ ...config, max: POOL_SIZE, allowExitOnIdle: true, idleTimeoutMillis: 5_000 })
      pool.on('error', () => {
        // An idle pooled connection lost: the pool replaces it at the next statement.
      })
      const connection = new PostgresConnection(pool, sessionClient, row.session)
      sessionClient.removeAllListeners('error')
      sessionClient.on('error', (error) => {
        connection.lost = error
      })
      if (lost) connection.lost = lost
      return connection
    } catch (error) {
      await sessionClient.end().catch(() => undefined)
      throw postgresFailure(error)
    }
  }

  run(sql: string, params: readonly unknown[] = []): Promise<SqlResult> {
    return this.onPool((client) => runOn(client, this.numbered(sql), params))
  }

  get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return this.onPool(async (client) => (await queryOn(client, this.numbered(sql), params)).rows[0] as T | undefined)
  }

  all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.onPool(async (client) => (await queryOn(client, this.numbered(sql), params)).rows as T[])
  }

  exec(sql: string): Promise<void> {
    // Several statements go as one simple query, which takes no parameters.
    return this.onPool(async (client) => {
      await execOn(client, sql)
    })
  }

  /**
   * `fn` in one transaction on a connection of its own (rolled back when it throws); with
   * `immediate`, under the store's write lock. A transaction inside it (through its handle)
   * is part of it, as a better-sqlite3 transaction inside another is (without a savepoint:
   * the store's nested transactions never catch their own errors).
   */
  transaction<R>(fn: (tx: SqlRunner) => Promise<R>, options: { immediate?: boolean } = {}): Promise<R> {
    return this.onPool(async (client) => {
      await execOn(client, 'BEGIN')
      try {
        if (options.immediate) await queryOn(client, 'SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK_KEY])
        const result = await fn(this.runnerOn(client))
        await execOn(client, 'COMMIT')
        return result
      } catch (error) {
        // A connection that cannot roll back is not given back to the pool in a transaction.
        await client.query('ROLLBACK').catch((lost: unknown) => {
          throw Object.assign(postgresFailure(lost), { cause: error })
        })
        throw error
      }
    })
  }

  /**
   * The rows of `sql` through a cursor (DECLARE … FETCH, in a read-only transaction of its
   * own connection): FETCH_ROWS at a time, however many there are.
   */
  iterate<T>(sql: string, params: readonly unknown[] = []): AsyncIterable<T> {
    const text = this.numbered(sql)
    return {
      [Symbol.asyncIterator]: () => {
        const connection = this
        return (async function* () {
          yield* connection.readCursor<T>(text, params)
        })()
      },
    }
  }

  private async *readCursor<T>(text: string, params: readonly unknown[]): AsyncGenerator<T> {
    this.check()
    const client = await this.pool.connect().catch((error: unknown) => {
      throw postgresFailure(error)
    })
    let broken = false
    try {
      await execOn(client, 'BEGIN READ ONLY')
      await queryOn(client, `DECLARE recipes_rows NO SCROLL CURSOR FOR ${text}`, params)
      for (;;) {
        const { rows } = await queryOn(client, `FETCH ${FETCH_ROWS} FROM recipes_rows`, [])
        for (const row of rows) yield row as T
        if (rows.length < FETCH_ROWS) break
      }
    } catch (error) {
      broken = true
      throw error
    } finally {
      // Also when the reader stopped early: the cursor ends with its transaction.
      await client.query('ROLLBACK').catch(() => {
        broken = true
      })
      client.release(broken)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Ending waits for the server's goodbye: the socket counts as work again until then.
    refClient(this.sessionClient, true)
    // The pool's idle connections too (it lets them go unreferenced while idle: allowExitOnIdle).
    for (const client of (this.pool as unknown as { _clients?: pg.Client[] })._clients ?? []) refClient(client, true)
    await Promise.all([this.pool.end().catch(() => undefined), this.sessionClient.end().catch(() => undefined)])
  }

  private check(): void {
    if (this.closed) throw new PostgresError('the connection to PostgreSQL is closed', undefined)
    if (this.lost) throw postgresFailure(this.lost)
  }

  /** `work` on a pooled connection, given back after (or dropped when it broke). */
  private async onPool<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.check()
    const client = await this.pool.connect().catch((error: unknown) => {
      throw postgresFailure(error)
    })
    let broken: Error | undefined
    try {
      return await work(client)
    } catch (error) {
      // A statement the server refused leaves the connection usable (and a failure of the caller's,
      // rolled back); a connection lost or timed out does not.
      if (error instanceof PostgresError && !/^[0-9A-Z]{5}$/.test(error.code ?? '')) broken = error
      throw error
    } finally {
      client.release(broken)
    }
  }

  /** The statements of a transaction, on its connection. */
  private runnerOn(client: pg.PoolClient): SqlRunner {
    const runner: SqlRunner = {
      dialect: 'postgres',
      run: (sql, params = []) => runOn(client, this.numbered(sql), params),
      get: async <T>(sql: string, params: readonly unknown[] = []) =>
        (await queryOn(client, this.numbered(sql), params)).rows[0] as T | undefined,
      all: async <T>(sql: string, params: readonly unknown[] = []) =>
        (await queryOn(client, this.numbered(sql), params)).rows as T[],
      exec: (sql) => execOn(client, sql),
      transaction: (fn) => fn(runner),
    }
    return runner
  }

  private numbered(sql: string): string {
    let text = this.translated.get(sql)
    if (text === undefined) {
      text = numberedPlaceholders(sql)
      this.translated.set(sql, text)
    }
    return text
  }
}

async function queryOn(client: pg.ClientBase, text: string, params: readonly unknown[]): Promise<pg.QueryResult> {
  try {
    return await client.query({ text, values: params.map(parameter) })
  } catch (error) {
    throw postgresFailure(error)
  }
}

async function runOn(client: pg.ClientBase, text: string, params: readonly unknown[]): Promise<SqlResult> {
  return { changes: (await queryOn(client, text, params)).rowCount ?? 0 }
}

async function execOn(client: pg.ClientBase, sql: string): Promise<void> {
  try {
    await client.query(sql)
  } catch (error) {
    throw postgresFailure(error)
  }
}

/** What `pg` threw as a PostgresError, its code kept (SQLSTATE, or the socket's: ECONNREFUSED). */
function postgresFailure(error: unknown): PostgresError {
  if (error instanceof PostgresError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown } | undefined)?.code
  return new PostgresError(message, typeof code === 'string' ? code : undefined)
}

/** Whether the socket of a connection counts as work that keeps the process alive. */
function refClient(client: pg.Client, ref: boolean): void {
  const handle = client as unknown as { ref?: () => void; unref?: () => void }
  try {
    if (ref) handle.ref?.()
    else handle.unref?.()
  } catch {
    // A connection already gone has no socket to count.
  }
}

/** Values as `pg` should send them: booleans as SQLite stores them (0/1), undefined as NULL. */
function parameter(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'boolean') return value ? 1 : 0
  return value
}

/** `?` placeholders as PostgreSQL's `$1, $2, …`, leaving string literals and quoted names alone. */
export function numberedPlaceholders(sql: string): string {
  let out = ''
  let n = 0
  let quote: string | undefined
  for (const char of sql) {
    if (quote) {
      if (char === quote) quote = undefined
      out += char
    } else if (char === "'" || char === '"') {
      quote = char
      out += char
    } else if (char === '?') out += `$${++n}`
    else out += char
  }
  return out
}
