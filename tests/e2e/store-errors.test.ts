import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { createProject, REPO, runCommand, type TestProject } from './project.ts'

// A run store that cannot be used (damaged, a folder that is a file, read-only) stops every
// `recipes` command that opens it with exit 3 and a message naming the file and what to do,
// fails the steps of `vitest run` with that message, and is left byte for byte as it was.
const RECIPE = `test_meta: { test_id: STORE-ERR-1 }
steps:
  - { idx: 1, name: load, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [1, 2] } }
`
const DB = 'reports/results.sqlite'
const isRoot = process.getuid?.() === 0
/**
 * As root, the read-only cases run as nobody, who must be able to reach node and this
 * repository (a checkout under a private folder is out of its reach: then they are skipped,
 * with a line saying why; .ci/run keeps its checkouts reachable so CI always runs them).
 */
const nobodyCanRun =
  !isRoot ||
  spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '-e',
      `require('fs').accessSync(${JSON.stringify(join(REPO, 'bin/recipes.js'))})`,
    ],
    { stdio: 'ignore' },
  ).status === 0
if (!nobodyCanRun)
  console.warn(`store-errors: the read-only cases are skipped: user nobody cannot run ${process.execPath} on ${REPO}`)

let project: TestProject | undefined
afterEach(() => project?.remove())

function newProject(): TestProject {
  project = createProject({ 'recipes/a.yaml': RECIPE, ...fixtureScriptlets() })
  return project
}

/** A real store in WAL mode, as a run leaves it, with enough rows to span several pages. */
function writeRealStore(path: string): Buffer {
  mkdirSync(join(path, '..'), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE notes (line TEXT)')
  for (let i = 0; i < 100; i++) db.prepare('INSERT INTO notes VALUES (?)').run(`measurement ${i} `.repeat(20))
  db.close()
  return readFileSync(path)
}

/**
 * The project's `recipes` and `vitest` run by a user that file modes apply to: root ignores
 * them (CI runs as root), so as root they run as nobody (setpriv, util-linux), in a project
 * whose folders nobody may enter and write (all but the ones a test made read-only).
 */
function asUnprivileged(project: TestProject): TestProject {
  if (!isRoot) return project
  for (const folder of ['.', 'node_modules', 'recipes', 'scriptlets']) chmodSync(join(project.root, folder), 0o777)
  const run = (args: string[]) =>
    runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], project.root)
  return {
    ...project,
    recipes: (args) => run([join(REPO, 'bin/recipes.js'), ...args]),
    vitest: (args) => run([join(REPO, 'node_modules/vitest/vitest.mjs'), ...args]),
  }
}

/** The commands that open the store: all of them go through one open (store-open.ts). */
const EVERY_COMMAND = [
  ['history', 'STORE-ERR-1'],
  ['report', '--format', 'md'],
  ['run', 'recipes/a.yaml'],
]

/**
 * Every command that opens the store (or `commands` of them, for a case the open refuses as it
 * refuses the others): exit 3, the file named, a hint, no stack trace; and vitest run says so.
 */
async function expectRefusedEverywhere(
  project: TestProject,
  expected: RegExp,
  commands: string[][] = EVERY_COMMAND,
): Promise<void> {
  for (const args of commands) {
    const result = await project.recipes(args)
    expect(result.code, `recipes ${args.join(' ')}: ${result.output}`).toBe(3)
    expect(result.stderr).toMatch(expected)
    expect(result.stderr).not.toMatch(/SqliteError|\n\s+at /)
  }
  const run = await project.vitest(['run'])
  expect(run.code).toBe(1)
  expect(run.output).toContain('vitest-recipes: the run could not start: ')
  expect(run.output).toMatch(expected)
}

describe('a damaged run store', () => {
  test('garbage bytes: exit 3 from history, report and run; vitest run says so; the file is untouched', async () => {
    const project = newProject()
    project.write(DB, 'this is not a database, but a lab notebook\n'.repeat(50))
    const before = readFileSync(join(project.root, DB))
    await expectRefusedEverywhere(
      project,
      /cannot open the run store reports\/results\.sqlite: file is not a database; it is not a readable SQLite database \(corrupt\?\): move it aside \(mv reports\/results\.sqlite reports\/results\.sqlite\.damaged; nothing in it was changed\)/,
    )
    expect(readFileSync(join(project.root, DB)).equals(before)).toBe(true)
    expect(existsSync(join(project.root, `${DB}-wal`))).toBe(false)
    expect(existsSync(join(project.root, `${DB}-shm`))).toBe(false)
  })

  test('a valid SQLite header followed by garbage ("malformed"): the same, and no -wal/-shm is left', async () => {
    const project = newProject()
    const real = writeRealStore(join(project.root, DB))
    // SQLite opens this file (its header is a WAL database's) and fails at the first read.
    const damaged = Buffer.concat([real.subarray(0, 100), Buffer.alloc(real.length - 100, 0x5a)])
    writeFileSync(join(project.root, DB), damaged)
    await expectRefusedEverywhere(
      project,
      /cannot open the run store reports\/results\.sqlite: database disk image is malformed; it is not a readable SQLite database \(corrupt\?\): move it aside/,
    )
    expect(readFileSync(join(project.root, DB)).equals(damaged)).toBe(true)
    expect(existsSync(join(project.root, `${DB}-wal`))).toBe(false)
    expect(existsSync(join(project.root, `${DB}-shm`))).toBe(false)
  })
})

test('damaged deep inside: the store opens, the query that reads the damage fails with exit 3 and the file named', async () => {
  const project = newProject()
  const path = join(project.root, DB)
  mkdirSync(join(path, '..'), { recursive: true })
  const store = await RunStore.open(path, DB)
  const run = { testId: 'STORE-ERR-1', recipe: 'recipes/a.yaml', vitestVersion: '4', metadata: {} }
  await store.beginRun({ ...run, runId: 'r1', startTime: '2026-01-01T00:00:00Z' })
  // Enough steps that step_metrics fills the last pages of the file, far from the runs table.
  for (let idx = 1; idx <= 400; idx++) {
    const reason = `device ${idx} did not answer `.repeat(10)
    const row = { step: `s${idx}`, idx, status: 'failed' as const, durationMs: 1, cpuMs: 0, peakRssBytes: 0 }
    await store.recordStep('r1', { ...row, exitCode: 1, attempts: 1, reason, logPath: null }, [], [])
  }
  await store.finishRun('r1', 'failed')
  await store.close()
  const real = readFileSync(path)
  const damaged = Buffer.concat([real.subarray(0, real.length / 2), Buffer.alloc(real.length / 2, 0x5a)])
  writeFileSync(path, damaged)
  const result = await project.recipes(['history', 'STORE-ERR-1'])
  expect(result.code, result.output).toBe(3)
  expect(result.stderr).toMatch(
    /^recipes: the run store reports\/results\.sqlite failed: database disk image is malformed; it is not a readable SQLite database \(corrupt\?\): move it aside/,
  )
  expect(result.stderr).not.toMatch(/SqliteError|\n\s+at /)
  expect(readFileSync(path).equals(damaged)).toBe(true)
})

describe('a store that cannot be written', () => {
  test('its folder is a file: exit 3 naming that file, which is left as it was', async () => {
    const project = newProject()
    project.write('reports', 'a file where the reports folder should be\n')
    await expectRefusedEverywhere(
      project,
      /cannot open the run store reports\/results\.sqlite: \/\S+\/reports is a file, not a folder; point RECIPES_DB \(or the plugin option db\) at a path whose folders are folders/,
    )
    expect(project.read('reports')).toBe('a file where the reports folder should be\n')
  })

  test('the store path is a folder: exit 3 saying to point it at a file', async () => {
    const project = newProject()
    mkdirSync(join(project.root, DB), { recursive: true })
    const result = await project.recipes(['history', 'STORE-ERR-1'])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(
      'cannot open the run store reports/results.sqlite: it is a folder; point RECIPES_DB (or the plugin option db) at a file',
    )
  })

  test.runIf(nobodyCanRun)('a read-only file: exit 3 saying to make it writable; the file is untouched', async () => {
    const project = newProject()
    const before = writeRealStore(join(project.root, DB))
    chmodSync(join(project.root, DB), 0o444)
    chmodSync(join(project.root, 'reports'), 0o777)
    await expectRefusedEverywhere(
      asUnprivileged(project),
      /cannot open the run store reports\/results\.sqlite: the file is read-only; make it writable \(chmod u\+w reports\/results\.sqlite\)/,
    )
    expect(readFileSync(join(project.root, DB)).equals(before)).toBe(true)
  })

  test.runIf(nobodyCanRun)('a read-only folder: exit 3 saying to make it writable; the file is untouched', async () => {
    const project = newProject()
    const before = writeRealStore(join(project.root, DB))
    chmodSync(join(project.root, 'reports'), 0o555)
    try {
      await expectRefusedEverywhere(
        asUnprivileged(project),
        /cannot open the run store reports\/results\.sqlite: its folder \S+\/reports is read-only \(the store writes reports\/results\.sqlite-wal and reports\/results\.sqlite-shm next to it\); make the folder writable/,
      )
    } finally {
      chmodSync(join(project.root, 'reports'), 0o755)
    }
    expect(readFileSync(join(project.root, DB)).equals(before)).toBe(true)
    expect(existsSync(join(project.root, `${DB}-wal`))).toBe(false)
  })
})

describe('a journal folder that cannot be written (the store itself is fine)', () => {
  // Each run appends its steps to <store>.pending/<run_id>.jsonl before they are stored: a run
  // that cannot would lose every step, so the store is refused at open, naming the folder.
  test('a file where the journal folder should be: exit 3 naming it, no stack trace; the file is untouched', async () => {
    const project = newProject()
    writeRealStore(join(project.root, DB))
    project.write(`${DB}.pending`, 'notes\n')
    await expectRefusedEverywhere(
      project,
      /cannot open the run store reports\/results\.sqlite: its journal folder reports\/results\.sqlite\.pending is a file, not a folder \(runs record their steps there before they are stored\); move it aside \(mv reports\/results\.sqlite\.pending reports\/results\.sqlite\.pending\.aside\), or point RECIPES_DB at another file/,
      [EVERY_COMMAND[0]!],
    )
    expect(project.read(`${DB}.pending`)).toBe('notes\n')
  })

  test.runIf(nobodyCanRun)('a read-only journal folder: exit 3 saying to make it writable', async () => {
    const project = newProject()
    writeRealStore(join(project.root, DB))
    chmodSync(join(project.root, 'reports'), 0o777)
    chmodSync(join(project.root, DB), 0o666)
    mkdirSync(join(project.root, `${DB}.pending`), { mode: 0o555 })
    chmodSync(join(project.root, `${DB}.pending`), 0o555)
    await expectRefusedEverywhere(
      asUnprivileged(project),
      /cannot open the run store reports\/results\.sqlite: its journal folder reports\/results\.sqlite\.pending is read-only \(runs record their steps there before they are stored\); make it writable \(chmod u\+w reports\/results\.sqlite\.pending\), or point RECIPES_DB at another file/,
      [EVERY_COMMAND[0]!],
    )
  })
})

/** Whether a process may lower its own file size limit (util-linux prlimit): how a disk fills, below. */
const canLimitFileSize = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize=unlimited:']).status === 0

/**
 * A step that fills "the disk" of the process running the recipe: its file size limit becomes
 * the run journal's size, so the kernel refuses every later write to a file (EFBIG, as ENOSPC
 * on a full disk), the journal's first. The Vitest process keeps its room, as it would with
 * space freed meanwhile.
 */
const FILL_SCRIPTLET = `import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'fill',
  run(ctx, _params, { step }) {
    const folder = 'reports/results.sqlite.pending'
    const journal = join(folder, readdirSync(folder).find((name) => name.endsWith('.jsonl')))
    spawnSync('prlimit', ['--pid', String(process.pid), '--fsize=' + statSync(journal).size + ':'])
    ctx.set('disk.fill_v1', 'x'.repeat(1000), { who: step })
  },
})
`

test.runIf(canLimitFileSize)(
  'the disk fills while a recipe runs: every step that started is in the store and report.md as it happened, the run failed, exit 1, no stack from the store',
  async () => {
    const project = createProject({
      'recipes/a.yaml': `test_meta: { test_id: STORE-FULL-1 }
steps:
  - { idx: 1, name: load, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [1, 2] } }
  - { idx: 2, name: fill, type: ts, module: scriptlets/fill.ts }
  - { idx: 3, name: after, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.after_v1, value: 1 } }
`,
      'scriptlets/fill.ts': FILL_SCRIPTLET,
      ...fixtureScriptlets(),
    })
    try {
      const run = await project.vitest(['run'])
      expect(run.code, run.output).toBe(1)
      expect(run.output).toMatch(
        /the run store could not record this step: the run journal reports\/results\.sqlite\.pending\/\S+\.jsonl could not be written: EFBIG: file too large, write; check that the store's folder is writable and the disk not full/,
      )
      expect(run.output).not.toMatch(/[\\/]dist[\\/]store[\\/]/)
      const db = new Database(join(project.root, DB), { readonly: true })
      const runs = db.prepare('SELECT run_id, status FROM runs').all() as { run_id: string; status: string }[]
      const steps = db.prepare('SELECT step, status, reason FROM step_metrics ORDER BY idx').all() as {
        step: string
        status: string
        reason: string | null
      }[]
      db.close()
      expect(runs.map((row) => row.status)).toEqual(['failed'])
      expect(steps.map((row) => [row.step, row.status])).toEqual([
        ['load', 'passed'],
        ['fill', 'failed'],
        // Blocked behind it, and its record refused too: failed, as its test, saying both.
        ['after', 'failed'],
      ])
      expect(steps[1]!.reason).toMatch(/^the run store could not record this step: the run journal .* EFBIG/)
      expect(steps[2]!.reason).toMatch(/^blocked: fill failed; the run store could not record this step: /)
      const report = project.read(`reports/${runs[0]!.run_id}/report.md`)
      expect(report).toMatch(/\| fill \|[^\n]*the run store could not record this step/)
      expect(report).toMatch(/\| after \|[^\n]*blocked: fill failed/)
    } finally {
      project.remove()
    }
  },
)

test('documents that cannot be written (the reports folder is a file): each run says so and how to retry, claims no folder, and the store keeps the run', async () => {
  const project = newProject()
  project.write('reports', 'a file where the reports folder should be\n')
  const run = await project.vitest(['run'], { env: { RECIPES_DB: 'store/results.sqlite' } })
  expect(run.code, run.output).toBe(0)
  const db = new Database(join(project.root, 'store/results.sqlite'), { readonly: true })
  const [stored] = db.prepare('SELECT run_id, status FROM runs').all() as { run_id: string; status: string }[]
  db.close()
  expect(stored?.status).toBe('passed')
  const runId = stored!.run_id
  expect(run.output).toContain(
    `✗ report.md of run ${runId} was not written: cannot create ${join(project.root, 'reports', runId)}: ENOTDIR`,
  )
  expect(run.output).toContain(
    'a file stands where a folder of that path should be: move it aside, or write the documents elsewhere (the plugin option reports.dir)',
  )
  expect(run.output).toContain(`\`npx recipes report --run ${runId}\` retries`)
  // The run's line names no folder that was not made.
  expect(run.output).not.toContain(`reports/${runId}/`)
  expect(run.output).toMatch(/recipes\/a\.yaml {2}passed {2}no documents written/)
  expect(project.read('reports')).toBe('a file where the reports folder should be\n')
})
