// The PostgreSQL connection of a run store (plugin/store/postgres/bridge.ts). The store's
// interface is synchronous (a step boundary is stored before the next step starts, and
// the reporters and CLI read it in line), while `pg` is asynchronous: this worker thread
// owns the connection and answers one request at a time, and the calling thread blocks on
// a shared flag until the answer is posted. Plain JavaScript, shipped as is.
import { workerData } from 'node:worker_threads'
import pg from 'pg'

/** @type {{ url: string, port: MessagePort, signal: Int32Array, connectTimeoutMs: number }} */
const { url, port, signal, connectTimeoutMs } = workerData

// COUNT(*) and BIGINT columns come back as text by default: the store's rows are plain numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (text) => Number(text))
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (text) => Number(text))

let client
/** Set once the connection is lost: every later request gets this answer. */
let lost

function reply(message) {
  port.postMessage(message)
  Atomics.store(signal, 0, 1)
  Atomics.notify(signal, 0)
}

function failure(error) {
  return { error: { message: error?.message ?? String(error), code: error?.code, severity: error?.severity } }
}

async function handle(request) {
  if (request.op === 'connect') {
    client = new pg.Client({
      connectionString: url,
      application_name: 'vitest-recipes',
      keepAlive: true,
      connectionTimeoutMillis: connectTimeoutMs,
    })
    client.on('error', (error) => {
      lost = error
    })
    await client.connect()
    const { rows } = await client.query('SELECT pg_backend_pid() AS session')
    return { session: rows[0].session }
  }
  if (request.op === 'close') {
    await client?.end().catch(() => {})
    client = undefined
    return {}
  }
  if (lost) throw lost
  // Several statements (a migration) go as one simple query, which takes no parameters.
  if (request.op === 'exec') {
    await client.query(request.sql)
    return {}
  }
  // Statements whose results are not needed, in one request (a step boundary): in a transaction
  // of their own (taking the store's write lock first), or in the one already open.
  if (request.op === 'batch') {
    if (!request.transaction) {
      for (const statement of request.statements) await client.query({ text: statement.sql, values: statement.params })
      return {}
    }
    await client.query('BEGIN')
    try {
      if (request.lockKey !== undefined) await client.query('SELECT pg_advisory_xact_lock($1)', [request.lockKey])
      for (const statement of request.statements) await client.query({ text: statement.sql, values: statement.params })
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    }
    return {}
  }
  // Rows as arrays would be smaller, but the store reads them by column name.
  const result = await client.query({ text: request.sql, values: request.params })
  return { rows: result.rows, changes: result.rowCount ?? 0 }
}

port.on('message', async (request) => {
  let message
  try {
    message = await handle(request)
  } catch (error) {
    message = failure(error)
  }
  reply(message)
  if (request.op === 'close') port.close()
})
