import { spawnSync } from 'node:child_process'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test, vi } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import type { JsonValue } from '../../plugin/context/json-value.ts'
import { HistoryTracker } from '../../plugin/store/history-delta.ts'
import { CTX_TEMP_PREFIX } from '../../plugin/context/ctx-temp-folder.ts'
import { readJournalRecords } from '../../plugin/store/journal.ts'
import { journalFolderOf, RunJournal } from '../../plugin/store/journal.ts'
import { stepRecord, readRows } from './rows.ts'
import { RunStore } from '../../plugin/store/run-store.ts'

// What a run can leave behind when it is killed, or when its journal is damaged: none of it
// may stop the store. The journal is read line by line, each line bounded; one that cannot be
// stored whole is moved aside with a message, and its run is stored as interrupted.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-journal-faults-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout)

const run = (runId: string) => ({
  runId,
  testId: 'JF-1',
  recipe: 'recipes/jf.yaml',
  startTime: '2026-01-01T00:00:00Z',
  vitestVersion: '4',
  metadata: {},
})
const step = stepRecord

const rows = readRows

/** The lines of a journal of `runId` written by a process that has died: begin, step one, step two. */
function deadRunLines(path: string, runId: string): string[] {
  const journal = RunJournal.create(path, 'jf.sqlite', runId)
  const ctx = new Context()
  journal.beginRun(run(runId))
  journal.recordStep(runId, step('one', 1), [ctx.set('jf.a_v1', 1, { who: 'one' })], [['jf.a_v1', 1]])
  journal.recordStep(runId, step('two', 2), [ctx.set('jf.a_v1', 2, { who: 'two' })], [['jf.a_v1', 2]])
  journal.close()
  const lines = readFileSync(journal.path, 'utf8').replace(`"pid":${process.pid}`, `"pid":${deadPid}`).split('\n')
  rmSync(journal.path)
  return lines.filter(Boolean)
}

/** Opens and closes the store at `path`, returning what it told the user. */
async function openAndClose(path: string): Promise<string> {
  const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    await (await RunStore.open(path, 'reports/jf.sqlite')).close()
    return warn.mock.calls.map(([chunk]) => String(chunk)).join('')
  } finally {
    warn.mockRestore()
  }
}

test('a journal with a 600 MB line (a killed run that appended big values) is read around it: the store opens, the run is interrupted with every other record, and the journal is moved aside', async () => {
  const path = join(dir, 'oversized.sqlite')
  await (await RunStore.open(path)).close()
  const [begin, one, two] = deadRunLines(path, 'big')
  const file = join(journalFolderOf(path), 'big.jsonl')
  writeFileSync(file, `${begin}\n${one}\n{"kind":"writes","seq":1,"historySeq":1,"writes":[{"after":"`)
  // A hole of 600 MB (sparse: no disk used) stands for the value; then the line ends and the journal goes on.
  truncateSync(file, readFileSync(file).length + 600 * 1024 * 1024)
  appendFileSync(file, `"}]}\n${two}\n`)
  const told = await openAndClose(path)
  expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }])
  expect(rows(path, 'SELECT step FROM step_metrics ORDER BY seq')).toEqual([{ step: 'one' }, { step: 'two' }])
  expect(existsSync(file)).toBe(false)
  expect(readdirSync(journalFolderOf(path))).toEqual(['big.jsonl.unreadable'])
  expect(told).toContain(
    'vitest-recipes: RUN_JOURNAL_UNREADABLE: the run journal reports/jf.sqlite.pending/big.jsonl could not be stored whole (1 line over the 256 MiB record limit)',
  )
  expect(told).toContain('moved aside to reports/jf.sqlite.pending/big.jsonl.unreadable')
  // The next open has nothing left to say.
  expect(await openAndClose(path)).toBe('')
})

test('a torn and corrupt journal of a dead run: what parses is stored, the run is interrupted, the journal moved aside with what to do', async () => {
  const path = join(dir, 'torn.sqlite')
  await (await RunStore.open(path)).close()
  const [begin, one, two] = deadRunLines(path, 'torn')
  const file = join(journalFolderOf(path), 'torn.jsonl')
  // A line that is not JSON, a record of no known shape, and a last line torn by the kill.
  writeFileSync(file, `${begin}\n${one}\nnot json\n{"kind":"step","seq":7}\n${two}\n{"kind":"fini`)
  const told = await openAndClose(path)
  expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }])
  expect(rows(path, 'SELECT step FROM step_metrics ORDER BY seq')).toEqual([{ step: 'one' }, { step: 'two' }])
  expect(readdirSync(journalFolderOf(path))).toEqual(['torn.jsonl.unreadable'])
  expect(told).toMatch(
    /the run journal reports\/jf\.sqlite\.pending\/torn\.jsonl could not be stored whole \(2 unreadable lines, a torn last line\); run torn is stored as interrupted with the 3 records that could be read; it was moved aside to reports\/jf\.sqlite\.pending\/torn\.jsonl\.unreadable: look into it or delete it/,
  )
})

test('a finished run whose journal lost a record is stored as interrupted, not as passed', async () => {
  const path = join(dir, 'finished.sqlite')
  await (await RunStore.open(path)).close()
  const [begin, one, two] = deadRunLines(path, 'fin')
  const file = join(journalFolderOf(path), 'fin.jsonl')
  writeFileSync(
    file,
    `${begin}\n${one}\n{"kind":"step","seq":"x"}\n${two}\n{"kind":"finish","status":"passed","endTime":"2026-01-01T00:00:09Z"}\n`,
  )
  await openAndClose(path)
  expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }])
  expect(readdirSync(journalFolderOf(path))).toEqual(['fin.jsonl.unreadable'])
})

test('a value a record marks as "what its writes leave" is rebuilt from the records before it; after an unreadable one it is not guessed', async () => {
  const path = join(dir, 'marked.sqlite')
  await (await RunStore.open(path)).close()
  const journal = RunJournal.create(path, 'jf.sqlite', 'marked')
  const ctx = new Context()
  const tracker = new HistoryTracker()
  const item = (n: number) => ({ n, text: 'x'.repeat(200) })
  const list: unknown[] = [item(0), item(1), item(2)]
  journal.beginRun(run('marked'))
  for (let n = 1; n <= 3; n++) {
    if (n > 1) list.push(item(n + 1))
    const { writes, commit } = tracker.track([ctx.set('jf.list_v1', [...list] as JsonValue, { who: `s${n}` })])
    journal.recordStep('marked', step(`s${n}`, n), writes, [['jf.list_v1', [...list] as JsonValue]])
    commit()
  }
  journal.close()
  const lines = readFileSync(journal.path, 'utf8').replace(`"pid":${process.pid}`, `"pid":${deadPid}`).split('\n')
  // The journal carries the list once (the first write), then the items appended: never the list again.
  expect(lines.filter((line) => line.includes('"n":0'))).toHaveLength(1)
  expect(lines[3]).toContain('"written":true')
  // Read whole, the snapshot holds the list the three steps left.
  writeFileSync(journal.path, lines.join('\n'))
  await openAndClose(path)
  const stored = (key: string) =>
    rows(path, `SELECT value FROM context_snapshots WHERE run_id = 'marked' AND key = '${key}'`).map(
      (row) => JSON.parse((row as { value: string }).value) as { n: number }[],
    )[0]
  expect(stored('jf.list_v1')?.map((entry) => entry.n)).toEqual([0, 1, 2, 3, 4])
  // With the second step's record unreadable, the third's append has no base: the snapshot keeps the last value known.
  const damaged = join(dir, 'marked-damaged.sqlite')
  await (await RunStore.open(damaged)).close()
  const file = join(journalFolderOf(damaged), 'marked.jsonl')
  mkdirSync(journalFolderOf(damaged), { recursive: true })
  writeFileSync(file, [lines[0], lines[1], '{"kind":"step"', lines[3], ''].join('\n'))
  const told = await openAndClose(damaged)
  expect(told).toContain('1 ctx value that could not be rebuilt from the records before')
  expect(
    rows(damaged, "SELECT value FROM context_snapshots WHERE key = 'jf.list_v1'").map(
      (row) => (JSON.parse((row as { value: string }).value) as unknown[]).length,
    ),
  ).toEqual([3])
  expect(rows(damaged, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }])
})

test('readJournalRecords reads line by line: a line over the bound is skipped and counted, never held', async () => {
  const file = join(dir, 'bounded.jsonl')
  const long = JSON.stringify({ kind: 'finish', status: 'x'.repeat(5000), endTime: 'e' })
  writeFileSync(
    file,
    `{"kind":"finish","status":"passed","endTime":"a"}\n${long}\n{"kind":"finish","status":"failed","endTime":"b"}\n{"kind":"fin`,
  )
  const seen: unknown[] = []
  const read = readJournalRecords(file, 0, (record) => seen.push(record), { maxRecordBytes: 1000, chunkBytes: 64 })
  expect(seen).toEqual([
    { kind: 'finish', status: 'passed', endTime: 'a' },
    { kind: 'finish', status: 'failed', endTime: 'b' },
  ])
  expect(read).toMatchObject({ oversized: 1, unreadable: 0, torn: true, records: 2 })
  // The torn tail is left for the next reading, from the offset after the last whole line.
  expect(read.end).toBe(readFileSync(file).length - '{"kind":"fin'.length)
})

test('leftovers of killed processes are cleaned at the next open: live endpoint files and ctx temp folders of dead processes', async () => {
  const path = join(dir, 'leftovers.sqlite')
  await (await RunStore.open(path)).close()
  const live = `${path}.live`
  mkdirSync(live, { recursive: true })
  const endpoint = (runId: string, pid: number) =>
    writeFileSync(
      join(live, `${runId}.json`),
      JSON.stringify({ runId, recipe: 'r', testId: 't', url: 'u', token: 'x', pid, host: hostname(), startedAt: 's' }),
    )
  endpoint('dead', deadPid)
  endpoint('alive', process.pid)
  const deadFolder = join(tmpdir(), `${CTX_TEMP_PREFIX}${deadPid}-abc`)
  const liveFolder = join(tmpdir(), `${CTX_TEMP_PREFIX}${process.pid}-abc`)
  mkdirSync(join(deadFolder, '1'), { recursive: true })
  mkdirSync(liveFolder, { recursive: true })
  try {
    await (await RunStore.open(path)).close()
    expect(readdirSync(live)).toEqual(['alive.json'])
    expect(existsSync(deadFolder)).toBe(false)
    expect(existsSync(liveFolder)).toBe(true)
  } finally {
    rmSync(deadFolder, { recursive: true, force: true })
    rmSync(liveFolder, { recursive: true, force: true })
  }
})

/** Whether this process can lower and raise its own file size limit (util-linux prlimit). */
const canLimitFileSize = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize=unlimited:']).status === 0

test.runIf(canLimitFileSize)(
  'a disk that fills in the middle of a record (a short write): the step boundary fails, the journal keeps whole lines, and what is written once there is room again is stored',
  async () => {
    const path = join(dir, 'full.sqlite')
    await (await RunStore.open(path)).close()
    const journal = RunJournal.create(path, 'reports/full.sqlite', 'full')
    const ctx = new Context()
    journal.beginRun(run('full'))
    journal.recordStep('full', step('one', 1), [ctx.set('jf.a_v1', 1, { who: 'one' })], [['jf.a_v1', 1]])
    // The kernel writes what fits under the limit and returns a short count, as on a disk that fills
    // mid-write; the next write fails with EFBIG as it would with ENOSPC.
    const big = 'x'.repeat(4000)
    const limit = (value: string) =>
      expect(spawnSync('prlimit', ['--pid', String(process.pid), `--fsize=${value}:`]).status).toBe(0)
    limit(String(statSync(journal.path).size + 2000))
    let thrown: unknown
    try {
      journal.recordStep('full', step('two', 2), [ctx.set('jf.b_v1', big, { who: 'two' })], [['jf.b_v1', big]])
    } catch (error) {
      thrown = error
    } finally {
      limit('unlimited')
    }
    expect(String(thrown)).toMatch(
      /the run journal reports\/full\.sqlite\.pending\/full\.jsonl could not be written: .*; check that the store's folder is writable and the disk not full/,
    )
    // Nothing of the refused record is left: the journal ends with a whole line.
    const reading = readJournalRecords(journal.path, 0, () => undefined)
    expect(reading).toMatchObject({ records: 2, unreadable: 0, oversized: 0, torn: false })
    // Room again: the step's plain row (what the runtime writes for a refused step), the next step, the end.
    journal.recordStep(
      'full',
      { ...step('two', 2, 'failed'), reason: 'the run store could not record this step' },
      [],
      [],
    )
    journal.recordStep('full', step('three', 3), [ctx.set('jf.c_v1', 3, { who: 'three' })], [['jf.c_v1', 3]])
    journal.finishRun('full', 'failed', '2026-01-01T00:00:09Z')
    journal.close()
    const told = await openAndClose(path)
    expect(told).toBe('')
    expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'failed' }])
    expect(rows(path, 'SELECT step, status FROM step_metrics ORDER BY seq')).toEqual([
      { step: 'one', status: 'passed' },
      { step: 'two', status: 'failed' },
      { step: 'three', status: 'passed' },
    ])
    expect(readdirSync(journalFolderOf(path))).toEqual([])
  },
)

test('a journal that cannot be read at all (here a folder by its name; a file of another user, a bad sector) stops no one: the other journals are stored, and it is named with what to do, once per process', async () => {
  const path = join(dir, 'unreadable-entry.sqlite')
  await (await RunStore.open(path)).close()
  const [begin, one, two] = deadRunLines(path, 'readable')
  mkdirSync(journalFolderOf(path), { recursive: true })
  writeFileSync(join(journalFolderOf(path), 'readable.jsonl'), `${begin}\n${one}\n${two}\n`)
  mkdirSync(join(journalFolderOf(path), 'blocked.jsonl'))
  const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  let told: string
  try {
    const store = await RunStore.open(path, 'reports/jf.sqlite')
    // Every ingestion of this process meets it again: it is said once.
    const { ingestJournals } = await import('../../plugin/store/ingest.ts')
    await ingestJournals(store)
    await store.close()
    told = warn.mock.calls.map(([chunk]) => String(chunk)).join('')
  } finally {
    warn.mockRestore()
  }
  expect(rows(path, 'SELECT run_id, status FROM runs')).toEqual([{ run_id: 'readable', status: 'interrupted' }])
  expect(rows(path, 'SELECT step FROM step_metrics ORDER BY seq')).toEqual([{ step: 'one' }, { step: 'two' }])
  expect(told.match(/RUN_JOURNAL_UNREADABLE/g)).toHaveLength(1)
  expect(told).toMatch(
    /^vitest-recipes: RUN_JOURNAL_UNREADABLE: the run journal reports\/jf\.sqlite\.pending\/blocked\.jsonl could not be read \(EISDIR: [^)]*\); none of its records is stored: make it readable by this user, or move it out of reports\/jf\.sqlite\.pending\/ \(the other journals are stored\)\n$/,
  )
  expect(existsSync(join(journalFolderOf(path), 'blocked.jsonl'))).toBe(true)
})
