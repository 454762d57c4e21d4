import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import type { SqlConnection, SqlStatement, SqlTransaction } from '../sql.ts'

/** The worker thread that holds the connection (plain JavaScript, shipped in workers/). */
const BRIDGE_WORKER = fileURLToPath(new URL('../../../workers/pg-bridge.mjs', import.meta.url))

/** How long a connection attempt may take before the store gives up. */
export const CONNECT_TIMEOUT_MS = 10_000
/** How long one statement may take (a lock wait in the database included). */
const QUERY_TIMEOUT_MS = 120_000

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

interface Reply {
  rows?: Record<string, unknown>[]
  changes?: number
  session?: number
  error?: { message: string; code?: string }
}

/**
 * A synchronous connection to PostgreSQL: every statement is sent to the bridge worker and
 * the calling thread waits for its answer (Atomics.wait on a shared flag), so the run store
 * keeps one synchronous implementation over both databases. A statement costs a round trip
 * between threads besides the database's own (measured by bench/store).
 */
export class PostgresConnection implements SqlConnection {
  readonly dialect = 'postgres'
  /** The server process of this connection: a session the database knows is alive while this process is. */
  readonly session: number
  private readonly worker: Worker
  private readonly port: MessagePort
  private readonly signal: Int32Array
  /** Never notified: waiting on it is a short pause. */
  private readonly pause = new Int32Array(new SharedArrayBuffer(4))
  private depth = 0
  private closed = false

  private constructor(worker: Worker, port: MessagePort, signal: Int32Array) {
    this.worker = worker
    this.port = port
    this.signal = signal
    this.session = this.call({ op: 'connect' }, CONNECT_TIMEOUT_MS + 5_000).session ?? 0
  }

  /** Connects to `url`; throws a PostgresError when the host cannot be reached or refuses the login. */
  static connect(url: string): PostgresConnection {
    const signal = new Int32Array(new SharedArrayBuffer(4))
    const { port1, port2 } = new MessageChannel()
    const worker = new Worker(BRIDGE_WORKER, {
      workerData: { url, port: port2, signal, connectTimeoutMs: CONNECT_TIMEOUT_MS },
      transferList: [port2],
      // Not the flags of the process (`node -e`, a test runner's loaders): the bridge is plain JavaScript.
      execArgv: [],
    })
    // The worker must not keep a process alive that is otherwise done (close() ends it too).
    worker.unref()
    try {
      return new PostgresConnection(worker, port1, signal)
    } catch (error) {
      port1.close()
      void worker.terminate()
      throw error
    }
  }

  prepare(sql: string): SqlStatement {
    const text = numberedPlaceholders(sql)
    const query = (params: unknown[]) => this.query(text, params)
    return {
      run: (...params) => ({ changes: query(params).changes ?? 0 }),
      get: (...params) => query(params).rows?.[0],
      all: (...params) => query(params).rows ?? [],
      iterate: (...params) => (query(params).rows ?? [])[Symbol.iterator](),
    }
  }

  /**
   * Runs `statements` (`?` placeholders) in one round trip: in a transaction of their own
   * (`immediate`: under the write lock), or in the transaction already open. For writes whose
   * results are not needed, such as a step boundary's rows.
   */
  batch(statements: readonly (readonly [sql: string, params: readonly unknown[]])[], immediate: boolean): void {
    if (this.closed) throw new PostgresError('the connection to PostgreSQL is closed', undefined)
    const locked = immediate && this.depth === 0
    const request = {
      op: 'batch',
      // One statement outside a transaction is a transaction by itself.
      transaction: this.depth === 0 && (locked || statements.length > 1),
      ...(locked ? { lockKey: WRITE_LOCK_KEY } : {}),
      statements: statements.map(([sql, params]) => ({ sql: this.numbered(sql), params: params.map(parameter) })),
    }
    this.call(request, QUERY_TIMEOUT_MS)
  }

  private readonly translated = new Map<string, string>()
  private numbered(sql: string): string {
    let text = this.translated.get(sql)
    if (text === undefined) {
      text = numberedPlaceholders(sql)
      this.translated.set(sql, text)
    }
    return text
  }

  exec(sql: string): void {
    if (this.closed) throw new PostgresError('the connection to PostgreSQL is closed', undefined)
    this.call({ op: 'exec', sql }, QUERY_TIMEOUT_MS)
  }

  /**
   * `fn` in one transaction (rolled back when it throws). A transaction inside another is
   * part of it, as a better-sqlite3 transaction inside another is (without its savepoint:
   * the store's nested transactions never catch their own errors).
   */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): SqlTransaction<A, R> {
    const run = (immediate: boolean, args: A): R => {
      if (this.depth > 0) {
        this.depth++
        try {
          return fn(...args)
        } finally {
          this.depth--
        }
      }
      this.exec('BEGIN')
      this.depth = 1
      try {
        if (immediate) this.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK_KEY])
        const result = fn(...args)
        this.exec('COMMIT')
        return result
      } catch (error) {
        try {
          this.exec('ROLLBACK')
        } catch {
          // The connection is gone: the transaction ended with it.
        }
        throw error
      } finally {
        this.depth = 0
      }
    }
    const transaction = ((...args: A) => run(false, args)) as SqlTransaction<A, R>
    transaction.immediate = (...args: A) => run(true, args)
    return transaction
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      this.call({ op: 'close' }, 5_000)
    } catch {
      // Closing a connection that is already gone.
    }
    this.port.close()
    void this.worker.terminate()
  }

  private query(sql: string, params: unknown[]): Reply {
    if (this.closed) throw new PostgresError('the connection to PostgreSQL is closed', undefined)
    return this.call({ op: 'query', sql, params: params.map(parameter) }, QUERY_TIMEOUT_MS)
  }

  private call(request: Record<string, unknown>, timeoutMs: number): Reply {
    Atomics.store(this.signal, 0, 0)
    this.port.postMessage(request)
    const deadline = Date.now() + timeoutMs
    // The answer is the message, not the wake-up: the worker posts it before it sets the flag
    // and notifies, and the notify of the previous answer can land while this call waits (the
    // worker thread paused between its store and its notify): a wake-up with no message means
    // wait again. A flag still set by that previous answer makes the wait return at once: then
    // pause a millisecond rather than spin.
    for (;;) {
      const reply = receiveMessageOnPort(this.port)?.message as Reply | undefined
      if (reply) {
        if (reply.error) throw new PostgresError(reply.error.message, reply.error.code)
        return reply
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new PostgresError(`PostgreSQL did not answer within ${timeoutMs / 1000} s`, 'TIMEOUT')
      if (Atomics.wait(this.signal, 0, 0, left) === 'not-equal') Atomics.wait(this.pause, 0, 0, 1)
    }
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
