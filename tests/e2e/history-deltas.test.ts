import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, DEFAULT_CONFIG, type TestProject } from './project.ts'

// History that grows with what changed: a step that appends to one list (a sampler, a log
// collector) records each item once. Whole before/after values made 600 appends of 1 KB a
// 543 MB journal and a 364 MB store, and 300 appends of 10 KB failed the step with
// "the run store could not record this step: Invalid string length".
const APPEND = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'append',
  run(ctx, params, { step }) {
    for (let n = 0; n < params.count; n++) {
      const item = { n, text: String(n % 10).repeat(params.size) }
      ctx.set('samples.list_v1', [...(ctx.get('samples.list_v1') ?? []), item], { who: step })
    }
    return { outputs: ['samples.list_v1'] }
  },
})
`
// A large object whose one field changes, a delete, and a key set again: the reads rebuild each value.
const EDIT = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'edit',
  run(ctx, params, { step }) {
    const ports = {}
    for (let n = 0; n < 200; n++) ports['p' + n] = { speed: 100, label: 'x'.repeat(100) }
    ctx.set('lab.ports_v1', { ports, state: 'new' }, { who: step })
    ctx.set('lab.ports_v1', { ports, state: 'ready' }, { who: step })
    ctx.set('lab.counter_v1', 1, { who: step })
    ctx.set('lab.counter_v1', 2, { who: step })
    return { outputs: ['lab.ports_v1'] }
  },
})
`
const CHECK = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'check',
  run(ctx, params, { step }) {
    const list = ctx.require('samples.list_v1')
    const ports = ctx.require('lab.ports_v1')
    if (list.length !== params.count || list.at(-1).n !== params.count - 1) throw new Error('list: ' + list.length)
    if (ports.state !== 'ready' || Object.keys(ports.ports).length !== 200) throw new Error('ports: ' + ports.state)
    ctx.set('check.done_v1', list.length, { who: step })
    return { outputs: ['check.done_v1'] }
  },
})
`

let project: TestProject
let appendRun: string
let storeBytes: number
let bigStep: { code: number | null; output: string }
const MB = 1024 * 1024
beforeAll(async () => {
  project = createProject(
    {
      'scriptlets/append.ts': APPEND,
      'scriptlets/edit.ts': EDIT,
      'scriptlets/check.ts': CHECK,
      'recipes/appends.yaml': `test_meta: { test_id: HIST-1 }
steps:
  - { idx: 1, name: sample, type: ts, module: scriptlets/append.ts, args: { count: 600, size: 1000 } }
  - { idx: 2, name: edit, type: ts, module: scriptlets/edit.ts }
  - { idx: 3, name: check, type: ts, module: scriptlets/check.ts, args: { count: 600 } }
`,
    },
    { config: DEFAULT_CONFIG.replace('recipes()', "recipes({ reports: { formats: ['md'] } })") },
  )
  const result = await project.vitest(['run', 'recipes/'])
  expect(result.output).not.toContain('could not record')
  expect(result.code).toBe(0)
  appendRun = readdirSync(join(project.root, 'reports')).find((name) => name.includes('-appends-'))!
  const store = join(project.root, 'reports/results.sqlite')
  storeBytes = statSync(store).size + (existsSync(`${store}-wal`) ? statSync(`${store}-wal`).size : 0)
  project.write(
    'recipes/big.yaml',
    `test_meta: { test_id: HIST-2 }
steps:
  - { idx: 1, name: sample, type: ts, module: scriptlets/append.ts, args: { count: 300, size: 10000 } }
`,
  )
  bigStep = await project.vitest(['run', 'recipes/big.yaml'])
}, 120_000)
afterAll(() => project?.remove())

test('600 appends of 1 KB grow the store by at most a few MB, and leave no journal behind', () => {
  // 600 KB of items, kept in the history and in the run's final ctx, with their step.
  expect(storeBytes).toBeLessThan(4 * MB)
  expect(readdirSync(join(project.root, 'reports/results.sqlite.pending'))).toEqual([])
})

test('a step that appends 300 items of 10 KB is recorded', () => {
  expect(bigStep.output).not.toContain('Invalid string length')
  expect(bigStep.code).toBe(0)
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  const status = db.prepare("SELECT status FROM runs WHERE test_id = 'HIST-2'").get() as { status: string }
  db.close()
  expect(status.status).toBe('passed')
})

test('report.json rebuilds every value the run wrote, and grows with what changed: a value over 4 KiB gives way to its patch', async () => {
  const result = await project.recipes(['report', '--run', appendRun, '--format', 'json', '--out', 'out'])
  expect(result.code).toBe(0)
  const file = join(project.root, `out/${appendRun}/report.json`)
  // Whole values before and after each of the 600 writes made this file ~360 MB.
  expect(statSync(file).size).toBeLessThan(3 * MB)
  const report = JSON.parse(project.read(`out/${appendRun}/report.json`)) as {
    context: Record<string, unknown>
    history: { key: string; before?: unknown; after?: unknown; patch?: unknown; omitted?: string[]; step: string }[]
  }
  const list = report.history.filter((row) => row.key === 'samples.list_v1')
  expect(list).toHaveLength(600)
  const items = Array.from({ length: 600 }, (_, n) => ({ n, text: String(n % 10).repeat(1000) }))
  for (const n of [0, 1, 2]) {
    expect(list[n]!.after).toEqual(items.slice(0, n + 1))
    expect(list[n]!.before).toEqual(n === 0 ? null : items.slice(0, n))
  }
  for (const n of [299, 599]) {
    expect(list[n]).not.toHaveProperty('after')
    expect(list[n]!.omitted).toEqual(['before', 'after'])
    expect(list[n]!.patch).toEqual([expect.objectContaining({ op: 'add', value: items[n] })])
  }
  // The final value is whole in the run's ctx.
  expect(report.context['samples.list_v1']).toEqual(items)
  const ports = report.history.filter((row) => row.key === 'lab.ports_v1')
  expect(ports[1]!.omitted).toEqual(['before', 'after'])
  expect(ports[1]!.patch).toEqual([{ op: 'replace', path: '/state', value: 'ready' }])
  expect(report.history.filter((row) => row.key === 'lab.counter_v1').map((row) => row.after)).toEqual([1, 2])
})

test('--resume-from rebuilds the list and the object from the stored history', async () => {
  const result = await project.recipes(['run', 'recipes/appends.yaml', '--resume-from', 'check'])
  expect(result.output).not.toMatch(/list: |ports: /)
  expect(result.code).toBe(0)
})
