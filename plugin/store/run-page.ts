import { open, realpath } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { type HistoryEntry, historyEntryOf } from './history-entry.ts'
import type { HistoryRow, RunData } from './run-data.ts'

/**
 * What the dashboard's run page shows of a stored run, as its JSON routes answer it: the run,
 * a key's history, a step's log. One definition for the two places that page is shown:
 * served by `recipes dashboard` (live/dashboard.ts) and written as `report.html` beside a
 * run's documents (exporters/html.ts), where the same answers are embedded in the page.
 */

/** The page: one file, no build step, no library (web/dashboard.html, shipped with the package). */
export const PAGE_FILE = new URL('../../web/dashboard.html', import.meta.url)

/** GET /api/runs/<run_id>: the run, its steps, final ctx and analysis, and the steps running now (none in a file). */
export function runAnswer<Running>(data: RunData, running: readonly Running[], version: number) {
  return {
    run: data.run,
    steps: data.steps,
    context: data.context,
    analysis: data.analysis ?? null,
    running,
    version,
  }
}

/** GET /api/runs/<run_id>/history?key=: each write of the key, as history-entry.ts shows one. */
export function historyAnswer(key: string, entries: HistoryEntry[]): { key: string; rows: HistoryEntry[] } {
  return { key, rows: entries }
}

/** The entries of `key` among a run's history rows, in order. */
export async function historyOfKey(
  rows: AsyncIterable<HistoryRow> | Iterable<HistoryRow>,
  key: string,
): Promise<HistoryEntry[]> {
  const entries: HistoryEntry[] = []
  for await (const row of rows) if (row.key === key) entries.push(historyEntryOf(row))
  return entries
}

/** Where a run's step logs are: their paths in the store are relative to `root`; only those inside `logsDir` are read. */
export interface StepLogsPlace {
  root: string
  /** @default `<root>/Logs` */
  logsDir?: string
}

/** A step's log as read: its text (with what was cut, when cut), or why there is none. */
export type StepLogText =
  | { text: string /** Bytes left out of the middle. */; cut: number; size: number }
  | { missing: 'outside' | 'gone' }

/**
 * A step's log (masked when it was written), read only when its real path (symlinks
 * followed, in the file and in its folders) is inside the real logs folder: a log replaced by
 * a link to another file is 'outside'. With `max`, a larger log keeps its first quarter and
 * its last three quarters of `max` bytes (a failure is told at the end), `cut` saying how many
 * bytes were left out between them.
 */
export async function readStepLog(place: StepLogsPlace, logPath: string, max?: number): Promise<StepLogText> {
  const folder = place.logsDir ?? resolve(place.root, 'Logs')
  let file: string
  let logs: string
  try {
    file = await realpath(resolve(place.root, logPath))
    logs = await realLogsFolder(place, folder)
  } catch {
    // Gone, or a link to nothing: nothing to read, wherever it pointed.
    return { missing: isInside(resolve(folder), resolve(place.root, logPath)) ? 'gone' : 'outside' }
  }
  if (!isInside(logs, file)) return { missing: 'outside' }
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      if (max === undefined || size <= max) return { text: (await handle.readFile()).toString('utf8'), cut: 0, size }
      const head = Math.floor(max / 4)
      const tail = max - head
      const read = async (length: number, position: number) => {
        const buffer = Buffer.alloc(length)
        const { bytesRead } = await handle.read(buffer, 0, length, position)
        return buffer.subarray(0, bytesRead).toString('utf8')
      }
      const cut = size - head - tail
      return {
        text: `${await read(head, 0)}\n… ${String(cut).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} bytes of this log are left out here …\n${await read(tail, size - tail)}`,
        cut,
        size,
      }
    } finally {
      await handle.close()
    }
  } catch {
    return { missing: 'gone' }
  }
}

/** Why a step's log cannot be shown, as the dashboard and report.html say it. */
export function missingLogMessage(logPath: string | null, missing?: 'outside' | 'gone'): string {
  if (logPath === null) return 'this step wrote no log (it passed silently)'
  return missing === 'outside'
    ? `the log ${logPath} is outside the project's Logs folder`
    : `the log ${logPath} is gone`
}

/** The logs folder's real path, looked up once per place (a report reads every step's log). */
const realFolders = new WeakMap<StepLogsPlace, Promise<string>>()
function realLogsFolder(place: StepLogsPlace, folder: string): Promise<string> {
  let real = realFolders.get(place)
  if (!real) {
    real = realpath(folder)
    real.catch(() => realFolders.delete(place))
    realFolders.set(place, real)
  }
  return real
}

function isInside(folder: string, file: string): boolean {
  const inside = relative(folder, file)
  return inside !== '' && !inside.startsWith(`..${sep}`) && inside !== '..' && !isAbsolute(inside)
}
