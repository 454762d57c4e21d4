import { EXIT_OK } from '../../scriptlet/envelope.ts'
import { type Holder, LEASE_MS, type Waiter } from '../../store/resource-locks.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { loadProject, withStore } from '../project.ts'

export const LOCKS_HELP = `Usage: recipes locks [--resource <name>]... [--json]

Lists who holds each lab resource and who waits for it, from the project's run store: the
runs of every shard, host and engineer sharing that store. A hold is a lease its process
renews every second; one not renewed for ${LEASE_MS / 1000}s, or whose process on this host is gone,
is not shown (the next run asking for the resource releases it).

Options:
  --resource <name>   Only this resource (may be given more than once)
  --json              Print JSON: {"holders": [...], "waiters": [...]}
  -h, --help          Show this help`

export const NOTHING_HELD = 'no lab resource is held or waited for'

export async function locksCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      resource: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'locks',
  )
  if (values.help) {
    io.stdout(`${LOCKS_HELP}\n`)
    return EXIT_OK
  }
  if (positionals.length > 0)
    throw new UsageError(
      `recipes locks takes no arguments, not "${positionals[0]}" (to see one resource: --resource ${positionals[0]})`,
    )
  const wanted = new Set(values.resource ?? [])
  for (const name of wanted) if (name.trim() === '') throw new UsageError('--resource takes a resource name')
  const project = await loadProject(io.cwd)
  const now = new Date()
  const listed = withStore(project, (store) => store.locks.list(now))
  const shown = (row: { resource: string }) => wanted.size === 0 || wanted.has(row.resource)
  const holders = listed.holders.filter(shown)
  const waiters = listed.waiters.filter(shown)
  if (values.json) {
    io.stdout(`${JSON.stringify({ holders, waiters }, null, 2)}\n`)
    return EXIT_OK
  }
  if (holders.length === 0 && waiters.length === 0) {
    io.stdout(
      wanted.size === 0
        ? `${NOTHING_HELD}\n`
        : `${[...wanted].join(', ')}: ${wanted.size === 1 ? 'not' : 'none'} held or waited for\n`,
    )
    return EXIT_OK
  }
  io.stdout(`${[...holdersTable(holders, now), ...waitersTable(waiters, now)].join('\n')}\n`)
  return EXIT_OK
}

function holdersTable(holders: readonly Holder[], now: Date): string[] {
  if (holders.length === 0) return ['held: none']
  return [
    `held (${holders.length}):`,
    ...table(
      ['RESOURCE', 'RUN', 'TEST', 'STEP', 'HOST', 'PID', 'SINCE (UTC)', 'HELD FOR', 'HEARTBEAT'],
      holders.map((holder) => [
        holder.resource,
        holder.runId,
        holder.testId ?? '-',
        holder.step ?? '(whole run)',
        holder.host ?? '-',
        holder.pid === null ? '-' : String(holder.pid),
        shownTime(holder.since),
        formatAge(now.getTime() - Date.parse(holder.since)),
        `${formatAge(now.getTime() - Date.parse(holder.heartbeatAt))} ago`,
      ]),
    ),
  ]
}

function waitersTable(waiters: readonly Waiter[], now: Date): string[] {
  if (waiters.length === 0) return ['waiting: none']
  return [
    `waiting (${waiters.length}), first come first served:`,
    ...table(
      ['RESOURCE', 'RUN', 'TEST', 'STEP', 'HOST', 'WAITING SINCE (UTC)', 'WAITING FOR'],
      waiters.map((waiter) => [
        waiter.resource,
        waiter.runId,
        waiter.testId ?? '-',
        waiter.step ?? '(whole run)',
        waiter.host ?? '-',
        shownTime(waiter.since),
        formatAge(now.getTime() - Date.parse(waiter.since)),
      ]),
    ),
  ]
}

/** Rows of cells as aligned columns, indented by two spaces, under their headings. */
function table(headings: readonly string[], rows: readonly string[][]): string[] {
  const widths = headings.map((heading, column) => Math.max(heading.length, ...rows.map((row) => row[column]!.length)))
  const line = (cells: readonly string[]) =>
    `  ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd()
  return [line(headings), ...rows.map(line)]
}

/** `2026-01-01T09:00:00.000Z` → `2026-01-01 09:00:00`, as recipes history shows times. */
function shownTime(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19)
}

/** A duration in whole seconds, the two largest units: `4s`, `3m 12s`, `2h 05m`, `3d 04h`. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`
  return `${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, '0')}h`
}
