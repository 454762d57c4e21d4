import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isLeftByDeadProcess, liveFolderOf } from '../store/leftovers.ts'

export { liveFolderOf }

/**
 * Where a running recipe file publishes its ctx server: `<store>.live/<run_id>.json`, beside
 * the run store, so `recipes ctx` finds a run by id or as `last` from the same place it
 * reads finished runs. The file holds the run's token: its folder is the user's alone
 * (0700) and the file too (0600). It is removed when the run ends; one left by a process
 * that died is ignored (and removed) by the next reader on the same host.
 */
export interface LiveEndpoint {
  runId: string
  recipe: string
  testId: string
  url: string
  token: string
  pid: number
  host: string
  startedAt: string
}

/** Publishes `endpoint`; returns the file to withdraw it with. */
export function publishEndpoint(storePath: string, endpoint: LiveEndpoint): string {
  const folder = liveFolderOf(storePath)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  chmodSync(folder, 0o700)
  const file = join(folder, `${endpoint.runId}.json`)
  // Written aside, then renamed into place: a reader (`recipes ctx`, the dashboard) never finds it half written.
  const aside = `${file}.${process.pid}.tmp`
  writeFileSync(aside, `${JSON.stringify(endpoint, null, 2)}\n`, { mode: 0o600 })
  chmodSync(aside, 0o600)
  renameSync(aside, file)
  return file
}

export function withdrawEndpoint(file: string): void {
  try {
    unlinkSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

/** The endpoints of running recipes, newest first; those of dead processes of this host are removed. */
export function liveEndpoints(storePath: string): LiveEndpoint[] {
  const folder = liveFolderOf(storePath)
  let names: string[]
  try {
    names = readdirSync(folder).filter((name) => name.endsWith('.json'))
  } catch {
    return []
  }
  const endpoints: LiveEndpoint[] = []
  for (const name of names) {
    const file = join(folder, name)
    let endpoint: LiveEndpoint
    try {
      endpoint = JSON.parse(readFileSync(file, 'utf8')) as LiveEndpoint
    } catch {
      continue
    }
    if (isLeftByDeadProcess(endpoint)) {
      withdrawEndpoint(file)
      continue
    }
    endpoints.push(endpoint)
  }
  return endpoints.sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.runId.localeCompare(a.runId))
}
