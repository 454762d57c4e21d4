import { relative, resolve, sep } from 'node:path'
import { isPostgresUrl, postgresSlug, shownPostgresUrl } from './postgres/url.ts'

/**
 * How the Vitest process tells recipe files that it keeps the run store (opens it before they
 * run and ingests their journals): `provide`d under this key, read with `inject` in the
 * worker. By the store's absolute path: the store could not be opened when `error` is set.
 */
export const KEPT_STORES_KEY = 'vitestRecipesKeptStores'

export type KeptStores = Record<
  string,
  {
    error?: string
    /** The Vitest the keeper runs in. */
    vitestVersion?: string
    /** Where the keeper serves the store's lab resource locks (reporter/lock-service.ts). */
    locks?: { url: string; token: string }
  }
>

/**
 * Where a store is: `path` is the SQLite file, or for a PostgreSQL store (`url`) the local base
 * of this machine's journals and live endpoints (`.recipes/postgres/<host_port_db>` in the
 * project); `shown` is how messages name it (never with a password).
 */
export interface StoreLocation {
  path: string
  shown: string
  url?: string
}

/** Where the store of the project at `root` is (RECIPES_DB over `db`), and how messages show it. */
export function locateStore(root: string, db: string): StoreLocation {
  const setting = process.env.RECIPES_DB || db
  if (isPostgresUrl(setting))
    return {
      path: resolve(root, '.recipes', 'postgres', postgresSlug(setting)),
      shown: shownPostgresUrl(setting),
      url: setting,
    }
  const path = resolve(root, setting)
  return { path, shown: relative(root, path).split(sep).join('/') || path }
}
