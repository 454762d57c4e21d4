import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ctxTempFolderOwner } from '../context/ctx-temp-folder.ts'
import { isProcessAlive } from './process-alive.ts'

/**
 * What killed runs leave outside the store, removed when it next opens: the live endpoint
 * files they published (`<store>.live/<run_id>.json`, which hold a token) and the temp folders
 * of their steps' ctx files (`<tmp>/vitest-recipes-ctx-<pid>-*`, which may hold secrets).
 * Only what a process of this host left, and only once that process is gone. (Their journals
 * are the ingest's: ingest.ts.)
 */

/** Where the running recipe files of the store at `storePath` publish their ctx servers (live/endpoints.ts). */
export function liveFolderOf(storePath: string): string {
  return `${storePath}.live`
}

/** Whether an endpoint was published by a process of this host that no longer runs. */
export function isLeftByDeadProcess(endpoint: { host?: unknown; pid?: unknown }): boolean {
  return endpoint.host === hostname() && typeof endpoint.pid === 'number' && !isProcessAlive(endpoint.pid)
}

/** Removes the leftovers of dead processes; one that cannot be removed now is tried again at the next open. */
export function cleanLeftovers(storePath: string): void {
  const live = liveFolderOf(storePath)
  for (const name of namesIn(live)) {
    if (!name.endsWith('.json')) continue
    try {
      if (isLeftByDeadProcess(JSON.parse(readFileSync(join(live, name), 'utf8')) as object))
        rmSync(join(live, name), { force: true })
    } catch {
      // Being written, or already gone.
    }
  }
  const temp = tmpdir()
  for (const name of namesIn(temp)) {
    const pid = ctxTempFolderOwner(name)
    if (pid === undefined || isProcessAlive(pid)) continue
    try {
      rmSync(join(temp, name), { recursive: true, force: true })
    } catch {
      // Another user's folder: theirs to remove.
    }
  }
}

function namesIn(folder: string): string[] {
  try {
    return readdirSync(folder)
  } catch {
    return []
  }
}
