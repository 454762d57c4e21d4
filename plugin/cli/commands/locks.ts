import { hostname, userInfo } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { EXIT_FAILED, EXIT_OK } from '../../scriptlet/envelope.ts'
import { type Holder, LEASE_MS, type Waiter } from '../../store/resource-locks.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { loadProject, type Project, withStore } from '../project.ts'

/** How long --release waits for the holder to stop and give the resource back. */
const RELEASE_WAIT_MS = 15_000
const RELEASE_WAIT_S = RELEASE_WAIT_MS / 1000

export const LOCKS_HELP = `Usage: recipes locks [--resource <name>]... [--json]
       recipes locks --release <name> [--force]

Lists who holds each lab resource and who waits for it, from the project's run store: the
runs of every shard, host and engineer sharing that store, with how long each hold has
lasted, its bound (resource_hold_max) and its generation. A hold lasts while its holder's
processes on its host live (however long they stall); on PostgreSQL, one of another host
while its database session lasts; on a SQLite store shared across hosts, one of another
host is a lease renewed every second and ended ${LEASE_MS / 1000}s after the last renewal.

--release frees a resource: its holder stops the step using it (the step fails, saying the
operator freed it) and gives it back; the command waits for that (up to ${RELEASE_WAIT_S}s, exit 1
if the holder has not stopped: a frozen or hung runner). --force ends the hold at once,
whatever the holder still does with the resource (the record shows the overlap, if any).

Options:
  --resource <name>   Only this resource (may be given more than once)
  --release <name>    Free this resource (see above)
  --force             With --release: end the hold now, without waiting for its holder
  --json              Print JSON: {"holders": [...], "waiters": [...]}
  -h, --help          Show this help`

export const NOTHING_HELD = 'no lab resource is held or waited for'

export async function locksCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      resource: { type: 'string', multiple: true },
      release: { type: 'string' },
      force: { type: 'boolean' },
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
  if (values.force && values.release === undefined) throw new UsageError('--force goes with --release <name>')
  const project = await loadProject(io.cwd)
  if (values.release !== undefined) return releaseResource(project, values.release, values.force ?? false, io)
  const now = new Date()
  const listed = await withStore(project, (store) => store.locks.list(now))
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
      ['RESOURCE', 'GEN', 'RUN', 'TEST', 'STEP', 'HOST', 'PID', 'SINCE (UTC)', 'HELD FOR', 'BOUND', 'HEARTBEAT'],
      holders.map((holder) => [
        holder.resource,
        holder.generation ? String(holder.generation) : '-',
        holder.runId,
        holder.testId ?? '-',
        holder.step ?? '(whole run)',
        holder.host ?? '-',
        holder.pid === null ? '-' : String(holder.pid),
        shownTime(holder.since),
        formatAge(now.getTime() - Date.parse(holder.since)),
        holder.maxHoldMs ? formatAge(holder.maxHoldMs) : 'none',
        `${formatAge(now.getTime() - Date.parse(holder.heartbeatAt))} ago${holder.revoked ? ` (being freed: ${holder.revoked})` : ''}`,
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

/**
 * `--release`: revokes the hold (the holder stops its step and gives the resource back) and
 * waits for it to end; `force`: ends it at once.
 */
async function releaseResource(project: Project, resource: string, force: boolean, io: CliIo): Promise<number> {
  if (resource.trim() === '') throw new UsageError('--release takes a resource name')
  const by = `${userInfo().username}@${hostname()}`
  const holder = await withStore(project, (store) => store.locks.revoke(resource, by, force))
  if (!holder) {
    io.stdout(`${resource}: not held, nothing to free\n`)
    return EXIT_OK
  }
  const who = `run ${holder.runId} (test_id ${holder.testId ?? '?'}${holder.step ? `, step ${holder.step}` : ''}) on host ${holder.host ?? '?'}`
  if (force) {
    io.stdout(`${resource}: hold of ${who} ended now (--force); its holder stops its step when it notices\n`)
    return EXIT_OK
  }
  io.stdout(`${resource}: asked ${who} to stop and give it back...\n`)
  const started = Date.now()
  while (Date.now() - started < RELEASE_WAIT_MS) {
    await sleep(200)
    const still = (await withStore(project, async (store) => (await store.locks.list()).holders)).find(
      (row) => row.resource === resource && row.runId === holder.runId && row.generation === holder.generation,
    )
    if (!still) {
      io.stdout(`${resource}: freed after ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
      return EXIT_OK
    }
  }
  io.stderr(
    `${resource}: still held by ${who} after ${RELEASE_WAIT_MS / 1000} s: its runner has not stopped (frozen or hung?); it stops as soon as it runs again. \`recipes locks --release ${resource} --force\` ends the hold now, whatever the holder still does with it\n`,
  )
  return EXIT_FAILED
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
