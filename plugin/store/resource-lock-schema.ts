// The lab resource lock tables (resource-locks.ts) as SQL for both databases.

/** Schema 5: the lock tables (as they were then; later migrations add columns). */
export const RESOURCE_LOCK_TABLES = `
  CREATE TABLE resource_locks (
    resource TEXT PRIMARY KEY, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT, pid INTEGER,
    acquired_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL
  );
  CREATE TABLE resource_waits (
    resource TEXT NOT NULL, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT, pid INTEGER,
    since TEXT NOT NULL, heartbeat_at TEXT NOT NULL, PRIMARY KEY (resource, run_id)
  );
  CREATE TABLE resource_holds (
    resource TEXT NOT NULL, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT,
    acquired_at TEXT NOT NULL, released_at TEXT, release TEXT
  );
  CREATE INDEX resource_holds_by_resource ON resource_holds (resource, acquired_at);
`

/**
 * Schema 7 (SQLite and PostgreSQL alike): who keeps a hold alive (the holder's start time, its
 * keepers), its generation, its bound, and an operator's revocation.
 */
export const RESOURCE_LOCK_FAULT_COLUMNS = `
  ALTER TABLE resource_locks ADD COLUMN pid_start BIGINT;
  ALTER TABLE resource_locks ADD COLUMN keepers TEXT;
  ALTER TABLE resource_locks ADD COLUMN generation BIGINT;
  ALTER TABLE resource_locks ADD COLUMN max_hold_ms BIGINT;
  ALTER TABLE resource_locks ADD COLUMN revoked TEXT;
  ALTER TABLE resource_holds ADD COLUMN generation BIGINT;
  ALTER TABLE resource_holds ADD COLUMN max_hold_ms BIGINT;
`
