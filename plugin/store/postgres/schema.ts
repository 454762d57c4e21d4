import { HISTORY_CHANGE_COLUMN } from '../history-delta.ts'
import { RESOURCE_LOCK_FAULT_COLUMNS } from '../resource-lock-schema.ts'
import { STEP_START_COLUMN } from '../run-recording.ts'
import type { SqlConnection } from '../sql.ts'

/**
 * The run store's tables in PostgreSQL: the SQLite ones (run-store.ts, resource-locks.ts)
 * column for column, with PostgreSQL's types (BIGINT for byte counts, DOUBLE PRECISION for
 * milliseconds) and `rowid` on runs, the insertion order SQLite keeps by itself. The schema
 * version is kept in `recipes_schema`. Version 6 is where PostgreSQL came in: a new database
 * gets the whole schema at once; later versions add migrations here as they do for SQLite.
 */
const MIGRATIONS: Record<number, string> = {
  6: `
    CREATE TABLE runs (
      rowid BIGSERIAL UNIQUE, run_id TEXT PRIMARY KEY, test_id TEXT, recipe TEXT NOT NULL, start_time TEXT NOT NULL,
      end_time TEXT, status TEXT NOT NULL, host TEXT, vitest_version TEXT, metadata TEXT, heartbeat_at TEXT, session TEXT
    );
    CREATE INDEX runs_by_recipe ON runs (recipe, start_time);
    CREATE INDEX runs_by_test ON runs (test_id, start_time);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    CREATE TABLE step_metrics (
      run_id TEXT NOT NULL, step TEXT NOT NULL, idx BIGINT, status TEXT NOT NULL, duration_ms DOUBLE PRECISION,
      cpu_ms DOUBLE PRECISION, peak_rss_bytes BIGINT, exit_code BIGINT, attempts BIGINT, reason TEXT, log_path TEXT,
      seq BIGINT NOT NULL, params TEXT, envelope TEXT, attempt_log TEXT, PRIMARY KEY (run_id, step)
    );
    CREATE TABLE context_snapshots (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, who TEXT, ts TEXT, PRIMARY KEY (run_id, key));
    CREATE TABLE context_history (
      run_id TEXT NOT NULL, seq BIGINT NOT NULL, key TEXT NOT NULL, who TEXT, ts TEXT, before TEXT, after TEXT,
      step TEXT, step_seq BIGINT, PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE analysis (run_id TEXT PRIMARY KEY, summary_text TEXT, metrics TEXT, ai_summary TEXT, ai_details TEXT);
    CREATE TABLE resource_locks (
      resource TEXT PRIMARY KEY, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT, pid BIGINT,
      acquired_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL, session TEXT
    );
    CREATE TABLE resource_waits (
      resource TEXT NOT NULL, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT, pid BIGINT,
      since TEXT NOT NULL, heartbeat_at TEXT NOT NULL, session TEXT, PRIMARY KEY (resource, run_id)
    );
    CREATE TABLE resource_holds (
      resource TEXT NOT NULL, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT,
      acquired_at TEXT NOT NULL, released_at TEXT, release TEXT
    );
    CREATE INDEX resource_holds_by_resource ON resource_holds (resource, acquired_at);
  `,
  7: RESOURCE_LOCK_FAULT_COLUMNS,
  8: HISTORY_CHANGE_COLUMN,
  9: STEP_START_COLUMN,
}

/** The first version a PostgreSQL store can have. */
const FIRST_VERSION = 6

/**
 * Brings the database to `target` under the store's write lock (the version is read once the
 * lock is held: shards starting together migrate once). Returns the version found, so the
 * caller can refuse a database written by a newer vitest-recipes.
 */
export function migratePostgres(db: SqlConnection, target: number): Promise<number> {
  return db.transaction(
    async (tx) => {
      await tx.exec('CREATE TABLE IF NOT EXISTS recipes_schema (version INTEGER NOT NULL)')
      const row = await tx.get<{ version: number | null }>('SELECT max(version) AS version FROM recipes_schema')
      const found = row?.version ?? 0
      if (found >= target) return found
      for (let next = Math.max(found + 1, FIRST_VERSION); next <= target; next++) {
        const migration = MIGRATIONS[next]
        if (migration) await tx.exec(idempotent(migration))
      }
      await tx.run('DELETE FROM recipes_schema')
      await tx.run('INSERT INTO recipes_schema (version) VALUES (?)', [target])
      return found
    },
    { immediate: true },
  )
}

/**
 * A migration that may meet what it makes already (a database half-migrated by hand, or its
 * version row lost) and adds only what is missing: PostgreSQL says IF NOT EXISTS for each.
 */
function idempotent(migration: string): string {
  return migration
    .replace(/\bADD COLUMN (?!IF NOT EXISTS)/g, 'ADD COLUMN IF NOT EXISTS ')
    .replace(/\bCREATE (TABLE|INDEX) (?!IF NOT EXISTS)/g, 'CREATE $1 IF NOT EXISTS ')
}
