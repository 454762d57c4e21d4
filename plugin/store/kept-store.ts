import { relative, resolve, sep } from 'node:path'

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

/** Where the store of the project at `root` is (RECIPES_DB over `db`), and how messages show it. */
export function locateStore(root: string, db: string): { path: string; shown: string } {
  const path = resolve(root, process.env.RECIPES_DB || db)
  return { path, shown: relative(root, path).split(sep).join('/') || path }
}
