import { accessSync, constants, existsSync, mkdirSync, type Stats, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { HISTORY_CHANGE_COLUMN } from './history-delta.ts'
import { STEP_START_COLUMN } from './run-recording.ts'
import { ingestJournals } from './ingest.ts'
import { journalFolderOf } from './journal.ts'
import { cleanLeftovers } from './leftovers.ts'
import { PostgresConnection, PostgresError } from './postgres/connection.ts'
import { migratePostgres } from './postgres/schema.ts'
import { postgresHostOf } from './postgres/url.ts'
import { RESOURCE_LOCK_FAULT_COLUMNS, RESOURCE_LOCK_TABLES } from './resource-lock-schema.ts'
import type { RunStore } from './run-store.ts'
import { type SqlConnection, sqliteConnection } from './sql.ts'

/**
 * Opening the run store: an SQLite file (checked writable, read as a database before anything
 * is written, WAL mode, migrated) or a PostgreSQL database (connected, migrated under the
 * store's write lock); what a failure says (StoreError: where, what went wrong, what to do);
 * and what killed runs left, settled once the store is open.
 */

/** The schema version this code writes; a database with a higher one is refused. */
export const SCHEMA_VERSION = 9

/** A store that cannot be used: corrupt, written by a newer version, not writable. */
export class StoreError extends Error {
  override name = 'StoreError'
}

/**
 * Each schema version's statements. They only add (CREATE TABLE, CREATE INDEX, ALTER TABLE ...
 * ADD COLUMN): a store is brought to the current schema by what it lacks of them (schemaGaps),
 * which also completes one half-migrated. A migration that changes rows needs a step of its own
 * in openSqlite (tests/store/store-open.test.ts holds this rule).
 */
export const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE runs (
      run_id TEXT PRIMARY KEY, test_id TEXT, recipe TEXT NOT NULL, start_time TEXT NOT NULL, end_time TEXT,
      status TEXT NOT NULL, host TEXT, vitest_version TEXT, metadata TEXT
    );
    CREATE INDEX runs_by_recipe ON runs (recipe, start_time);
    CREATE INDEX runs_by_test ON runs (test_id, start_time);
    CREATE TABLE step_metrics (
      run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER, status TEXT NOT NULL, duration_ms REAL, cpu_ms REAL,
      peak_rss_bytes INTEGER, exit_code INTEGER, attempts INTEGER, reason TEXT, log_path TEXT, seq INTEGER NOT NULL,
      PRIMARY KEY (run_id, step)
    );
    CREATE TABLE context_snapshots (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, who TEXT, ts TEXT, PRIMARY KEY (run_id, key));
    CREATE TABLE context_history (
      run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, who TEXT, ts TEXT, before TEXT, after TEXT,
      step TEXT, step_seq INTEGER, PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE analysis (run_id TEXT PRIMARY KEY, summary_text TEXT, metrics TEXT);
  `,
  // What the reports show per step: the args it was called with (secrets redacted) and its envelope.
  2: `
    ALTER TABLE step_metrics ADD COLUMN params TEXT;
    ALTER TABLE step_metrics ADD COLUMN envelope TEXT;
  `,
  // Each attempt of a retried step: its status, reason and duration (JSON array).
  3: `
    ALTER TABLE step_metrics ADD COLUMN attempt_log TEXT;
  `,
  // The optional AI summary beside the heuristic analysis: its text, and how it was asked for (JSON).
  4: `
    ALTER TABLE analysis ADD COLUMN ai_summary TEXT;
    ALTER TABLE analysis ADD COLUMN ai_details TEXT;
  `,
  // Lab resource locks: who holds what, who waits, and every hold with its interval.
  5: RESOURCE_LOCK_TABLES,
  // Runs and locks across machines (the PostgreSQL store): the recording session and its heartbeat.
  6: `
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
    ALTER TABLE runs ADD COLUMN session TEXT;
    ALTER TABLE resource_locks ADD COLUMN session TEXT;
    ALTER TABLE resource_waits ADD COLUMN session TEXT;
  `,
  // Lab resources under faults: who keeps a hold alive, its generation, its bound, an operator's revocation.
  7: RESOURCE_LOCK_FAULT_COLUMNS,
  // History that grows with what changed (history-delta.ts): a write's patch against the key's previous value.
  8: HISTORY_CHANGE_COLUMN,
  // Where each step sits on the run's clock (steps side by side overlap): when it began running.
  9: STEP_START_COLUMN,
}

/**
 * The SQLite store at `path`, created and migrated as needed, shown as `shown` in errors.
 * Nothing is written before the file has been read as a database: a damaged store throws a
 * StoreError and is left byte for byte as it was.
 */
export async function openSqlite(path: string, shown: string): Promise<SqlConnection> {
  let db: Database.Database | undefined
  try {
    checkWritable(path, shown)
    db = new Database(path, { timeout: BUSY_WAIT_MS })
    const opened = db
    const busyUntil = Date.now() + BUSY_WAIT_MS
    // Reading the schema first: a damaged file fails here, before the journal mode or a migration writes to it.
    await whileBusy(busyUntil, () => opened.prepare('SELECT count(*) FROM sqlite_master').get())
    // Switching a new file to WAL needs it to itself, and where waiting could deadlock SQLite
    // answers SQLITE_BUSY at once instead of through its busy handler: wait here.
    await whileBusy(busyUntil, () => opened.pragma('journal_mode = WAL'))
    db.pragma('synchronous = NORMAL')
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `${shown} has schema version ${version}, newer than this vitest-recipes understands (${SCHEMA_VERSION}): upgrade vitest-recipes, or point RECIPES_DB at another file`,
      )
    }
    // Completed, not only migrated: a store half-migrated (a migration applied and its version not
    // written, a column or table of the current version missing) gets what it lacks, keeping its rows.
    if (version < SCHEMA_VERSION || schemaGaps(db).length > 0) {
      const added = await whileBusy(busyUntil, () =>
        opened
          .transaction(() => {
            // Read again under the write lock: another process (a `recipes ctx` while the run starts,
            // another shard) may have migrated the file meanwhile, and a migration runs once.
            const gaps = schemaGaps(opened)
            for (const statement of gaps) opened.exec(statement)
            opened.pragma(`user_version = ${SCHEMA_VERSION}`)
            return gaps
          })
          .immediate(),
      )
      // A store of this version that lacked part of its schema was damaged, or half-migrated: said, since
      // a table made again holds none of the rows the missing one had.
      if (version === SCHEMA_VERSION && added.length > 0)
        console.warn(
          `vitest-recipes: RUN_STORE_REPAIRED: the run store ${shown} lacked part of its schema (${added.map(schemaPart).join(', ')}); it was added, empty: rows a missing table held are not in it. Look for a copy of the file if they matter.`,
        )
    }
    return sqliteConnection(db, resolve(path))
  } catch (error) {
    db?.close()
    throw storeError(error, `cannot open the run store ${shown}`, shown)
  }
}

/** What a schemaGaps statement adds, for people: `table step_metrics`, `column runs.session`, `index runs_by_test`. */
function schemaPart(statement: string): string {
  const table = /^CREATE TABLE (\w+)/i.exec(statement)
  if (table) return `table ${table[1]}`
  const column = /^ALTER TABLE (\w+) ADD COLUMN (\w+)/i.exec(statement)
  if (column) return `column ${column[1]}.${column[2]}`
  const index = /^CREATE (?:UNIQUE )?INDEX (\w+)/i.exec(statement)
  return index ? `index ${index[1]}` : statement
}

/** The tables and indexes of the current schema, as the migrations make them (read from an in-memory database, once). */
let currentSchema: CurrentSchema | undefined

interface CurrentSchema {
  tables: Map<string, { sql: string; columns: SchemaColumn[] }>
  indexes: Map<string, string>
}

interface SchemaColumn {
  name: string
  type: string
  dflt_value: string | null
}

function schemaOfMigrations(): CurrentSchema {
  if (currentSchema) return currentSchema
  const memory = new Database(':memory:')
  try {
    for (let next = 1; next <= SCHEMA_VERSION; next++) memory.exec(MIGRATIONS[next]!)
    const schema: CurrentSchema = { tables: new Map(), indexes: new Map() }
    const entries = memory
      .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
      .all() as { type: string; name: string; sql: string }[]
    for (const { type, name, sql } of entries) {
      if (type === 'table') schema.tables.set(name, { sql, columns: columnsOf(memory, name) })
      else if (type === 'index') schema.indexes.set(name, sql)
    }
    currentSchema = schema
    return schema
  } finally {
    memory.close()
  }
}

function columnsOf(db: Database.Database, table: string): SchemaColumn[] {
  return db.prepare('SELECT name, type, dflt_value FROM pragma_table_info(?)').all(table) as SchemaColumn[]
}

/**
 * The statements that give the store at `db` what the current schema has and it lacks: a
 * table, a column (added as the migrations add it), an index. Empty for a store that is whole;
 * every statement for a new file. Only adds: nothing a store holds is changed.
 */
function schemaGaps(db: Database.Database): string[] {
  const schema = schemaOfMigrations()
  const present = db.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all() as {
    type: string
    name: string
  }[]
  const has = (type: string, name: string) => present.some((entry) => entry.type === type && entry.name === name)
  const statements: string[] = []
  for (const [table, { sql, columns }] of schema.tables) {
    if (!has('table', table)) {
      statements.push(sql)
      continue
    }
    const there = new Set(columnsOf(db, table).map((column) => column.name))
    for (const column of columns.filter((wanted) => !there.has(wanted.name)))
      statements.push(
        `ALTER TABLE ${table} ADD COLUMN ${column.name} ${column.type}${column.dflt_value === null ? '' : ` DEFAULT ${column.dflt_value}`}`,
      )
  }
  for (const [index, sql] of schema.indexes) if (!has('index', index)) statements.push(sql)
  return statements
}

/** How long opening a store waits for another process's lock (SQLite's busy timeout too). */
const BUSY_WAIT_MS = 10_000

/**
 * `work`, again every 20 ms while SQLite says the file is busy, until `until` (epoch ms): some
 * locks SQLite does not wait for itself (changing the journal mode), and processes opening a
 * new store at the same moment meet them.
 */
async function whileBusy<T>(until: number, work: () => T): Promise<T> {
  for (;;) {
    try {
      return work()
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= until) throw error
      await sleep(20)
    }
  }
}

/**
 * The PostgreSQL store at `url`, migrated as needed, shown as `shown` (no password). A host
 * that cannot be reached or refuses the login is a StoreError naming the host.
 */
export async function openPostgres(url: string, shown: string): Promise<PostgresConnection> {
  let db: PostgresConnection | undefined
  try {
    db = await PostgresConnection.connect(url)
    const found = await migratePostgres(db, SCHEMA_VERSION)
    if (found > SCHEMA_VERSION)
      throw new StoreError(
        `${shown} has schema version ${found}, newer than this vitest-recipes understands (${SCHEMA_VERSION}): upgrade vitest-recipes, or point RECIPES_DB at another database`,
      )
    return db
  } catch (error) {
    await db?.close()
    throw postgresError(error, `cannot open the run store ${shown}`, url)
  }
}

/**
 * A store just opened, with what killed runs left settled: their journals stored (ingest.ts)
 * and their other leftovers removed (leftovers.ts).
 */
export async function settleStore(store: RunStore): Promise<RunStore> {
  checkJournalFolder(store)
  await ingestJournals(store)
  cleanLeftovers(store.file)
  return store
}

/** A failure of a query on the store at `path` as a StoreError that names the store and says what to do. */
export function queryFailure(error: unknown, path: string): unknown {
  if (error instanceof PostgresError) return postgresError(error, `the run store ${path} failed`, undefined)
  return isSqliteError(error) ? storeError(error, `the run store ${path} failed`, path) : error
}

/**
 * A PostgreSQL failure as a StoreError: what was being done, at which host (`url` when known;
 * never its password), what went wrong and what to do.
 */
export function postgresError(error: unknown, doing: string, url: string | undefined): StoreError {
  if (error instanceof StoreError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown }).code
  const host = url === undefined ? undefined : postgresHostOf(url)
  let hint = 'check the database and RECIPES_DB (or the plugin option db)'
  if (code === '28P01' || code === '28000')
    hint = `the server at ${host ?? 'the host'} refused the login: check the user and password (in the URL or PGPASSWORD) and pg_hba.conf`
  else if (code === '3D000')
    hint = `the database does not exist on ${host ?? 'the host'}: create it (createdb), or name another one in the URL`
  else if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'ETIMEDOUT' ||
    code === 'EHOSTUNREACH' ||
    /timeout/i.test(message)
  )
    hint = `PostgreSQL cannot be reached at ${host ?? 'the host'}: check that it runs and accepts TCP connections there, and the host and port in RECIPES_DB`
  else if (code === '42501')
    hint =
      'the user may not create or write the tables: grant it CREATE on the schema (or run the first migration as the owner)'
  return new StoreError(`${doing}: ${message}; ${hint}`)
}

export function isSqliteError(error: unknown): error is Error & { code: string } {
  return error instanceof Database.SqliteError
}

/**
 * Refuses a store that cannot be written before SQLite opens it (SQLite would fall back to
 * read-only and fail at the first write): a read-only file or folder, a folder that is a file.
 */
function checkWritable(path: string, shown: string): void {
  let folder = dirname(path)
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder)
  if (!statSync(folder).isDirectory())
    throw new StoreError(
      `cannot open the run store ${shown}: ${folder} is a file, not a folder; point RECIPES_DB (or the plugin option db) at a path whose folders are folders`,
    )
  mkdirSync(dirname(path), { recursive: true })
  if (existsSync(path) && statSync(path).isDirectory())
    throw new StoreError(
      `cannot open the run store ${shown}: it is a folder; point RECIPES_DB (or the plugin option db) at a file, for example ${shown}/results.sqlite`,
    )
  try {
    accessSync(dirname(path), constants.W_OK)
  } catch {
    throw new StoreError(
      `cannot open the run store ${shown}: its folder ${dirname(path)} is read-only (the store writes ${shown}-wal and ${shown}-shm next to it); make the folder writable, or point RECIPES_DB at a file in a writable folder`,
    )
  }
  try {
    if (existsSync(path)) accessSync(path, constants.W_OK)
  } catch {
    throw new StoreError(
      `cannot open the run store ${shown}: the file is read-only; make it writable (chmod u+w ${shown}), or point RECIPES_DB at another file`,
    )
  }
}

/**
 * Refuses a store whose journal folder (journal.ts) cannot take a run's records: each run
 * appends its steps there before they are stored, and every step of a run that cannot would
 * fail; a reader would fail deep inside the ingest.
 */
function checkJournalFolder(store: RunStore): void {
  const folder = journalFolderOf(store.file)
  const shown = store.dialect === 'sqlite' ? `${store.path}.pending` : folder
  const doing = `cannot open the run store ${store.path}: its journal folder ${shown}`
  const why = '(runs record their steps there before they are stored)'
  let stats: Stats
  try {
    stats = statSync(folder)
  } catch {
    // None yet: made beside the store (whose folder is writable) by the first run.
    return
  }
  if (!stats.isDirectory())
    throw new StoreError(
      `${doing} is a file, not a folder ${why}; move it aside (mv ${shown} ${shown}.aside), or point RECIPES_DB at another ${store.dialect === 'sqlite' ? 'file' : 'database'}`,
    )
  try {
    accessSync(folder, constants.W_OK | constants.X_OK)
  } catch {
    throw new StoreError(
      `${doing} is read-only ${why}; make it writable (chmod u+w ${shown}), or point RECIPES_DB at another ${store.dialect === 'sqlite' ? 'file' : 'database'}`,
    )
  }
}

/** `error` as a StoreError: `doing` and what went wrong, then what to do about it. */
export function storeError(error: unknown, doing: string, shown: string): StoreError {
  if (error instanceof StoreError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown }).code
  let hint = 'check that the file and its folder are writable, or point RECIPES_DB at another file'
  // Neither SQLite's nor the file system's: the advice above would send the user the wrong way.
  if (!isSqliteError(error) && typeof code !== 'string')
    hint = 'this is a fault of vitest-recipes, not of the file: please report it with this message'
  else if (
    code === 'SQLITE_CORRUPT' ||
    code === 'SQLITE_NOTADB' ||
    /not a database|malformed|file is encrypted/i.test(message)
  )
    hint = `it is not a readable SQLite database (corrupt?): move it aside (mv ${shown} ${shown}.damaged; nothing in it was changed) and a new store is created at the next run, or point RECIPES_DB at another file`
  else if (typeof code === 'string' && code.startsWith('SQLITE_READONLY'))
    hint = `the file or its folder is read-only: make both writable (chmod u+w), or point RECIPES_DB at another file`
  else if (code === 'SQLITE_BUSY')
    hint =
      'another process held it locked for more than 10 s: wait for it to finish, or point RECIPES_DB at another file'
  else if (code === 'SQLITE_FULL') hint = 'the disk is full: free some space'
  return new StoreError(`${doing}: ${message}; ${hint}`)
}
