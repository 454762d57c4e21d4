import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import JSZip from 'jszip'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, DEFAULT_CONFIG, type TestProject } from './project.ts'

// A run whose ctx holds more keys than a Word document should list: report.docx and report.md
// list the first 200 keys (values cut short) and say how many more there are and where;
// report.xlsx and the run store keep every key and the whole value.
const KEYS = 250
const FILL = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'fill',
  run(ctx, params, { step }) {
    const keys = []
    for (let n = 0; n < params.keys; n++) {
      const key = 'inventory.port_' + String(n).padStart(3, '0') + '_v1'
      ctx.set(key, { port: n, up: true }, { who: step })
      keys.push(key)
    }
    ctx.set('capture.raw_v1', 'abc'.repeat(2000) + 'END', { who: step })
    return { outputs: keys }
  },
})
`

let project: TestProject
let runId: string
let docxText: string
beforeAll(async () => {
  project = createProject(
    {
      'scriptlets/fill.ts': FILL,
      'recipes/inventory.yaml': `test_meta: { test_id: INV-1, tester: ann }
steps:
  - { idx: 1, name: fill_inventory, type: ts, module: scriptlets/fill.ts, args: { keys: ${KEYS} } }
`,
    },
    { config: DEFAULT_CONFIG },
  )
  const result = await project.vitest(['run', 'recipes/'])
  expect(result.code).toBe(0)
  runId = readdirSync(join(project.root, 'reports')).find((name) => name.includes('-inventory-'))!
  const zip = await JSZip.loadAsync(readFileSync(join(project.root, 'reports', runId, 'report.docx')))
  // The document's text, one paragraph per line.
  docxText = (await zip.file('word/document.xml')!.async('string'))
    .replace(/<\/w:p>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&quot;/g, '"')
})
afterAll(() => project?.remove())

test('report.docx lists the first 200 ctx keys and says how many more there are and where they are', () => {
  expect(docxText).toContain('inventory.port_000_v1')
  // Keys in key order: capture.raw_v1, then ports 000–198 are the first 200.
  expect(docxText).toContain('inventory.port_198_v1')
  expect(docxText).not.toContain('inventory.port_199_v1')
  expect(docxText).toContain(
    `51 more ctx keys are not listed here (the first 200 of 251, in key order): report.xlsx (sheet Context) has every key, and so does the run store (\`npx recipes report --run ${runId} --format json\`, or SQL on its context_snapshots table).`,
  )
})

test("report.docx cuts a long value short, and lists a step's first 20 outputs", () => {
  expect(docxText).toContain(`${'abc'.repeat(30)}`)
  expect(docxText).not.toContain('END')
  expect(docxText).toMatch(
    /outputs: inventory\.port_000_v1, .*, inventory\.port_019_v1 and 230 more \(its ctx writes are in report\.xlsx, sheet History\)/,
  )
})

test('report.md says the same', () => {
  const md = project.read(`reports/${runId}/report.md`)
  expect(md).toContain('| `inventory.port_198_v1` |')
  expect(md).not.toContain('inventory.port_199_v1 |')
  expect(md).toContain('_51 more ctx keys are not listed here (the first 200 of 251, in key order)')
})

test('report.xlsx and the run store keep every key and the whole value', async () => {
  const xlsx = await JSZip.loadAsync(readFileSync(join(project.root, 'reports', runId, 'report.xlsx')))
  const keys = await sheetColumn(xlsx, 'Context', 'A')
  expect(keys).toHaveLength(KEYS + 2) // the header, and every key
  expect(keys).toContain('inventory.port_249_v1')
  const values = await sheetColumn(xlsx, 'Context', 'B')
  expect(values[keys.indexOf('capture.raw_v1')]).toBe(`${'abc'.repeat(2000)}END`)
  expect(await sheetColumn(xlsx, 'History', 'C')).toHaveLength(KEYS + 2)

  const json = await project.recipes(['report', '--run', runId, '--format', 'json'])
  expect(json.code).toBe(0)
  const report = JSON.parse(project.read(`reports/${runId}/report.json`))
  expect(Object.keys(report.context)).toHaveLength(KEYS + 1)
  expect(report.context['inventory.port_249_v1']).toEqual({ port: 249, up: true })
})

/** The text of one column of a sheet of a workbook, a row at a time, the header first. */
async function sheetColumn(workbook: JSZip, sheet: string, column: string): Promise<string[]> {
  const read = (path: string) => workbook.file(path)!.async('string')
  const relation = new RegExp(`<sheet [^>]*name="${sheet}"[^>]*r:id="([^"]+)"`).exec(await read('xl/workbook.xml'))![1]
  const target = new RegExp(`Id="${relation}"[^>]*Target="([^"]+)"`).exec(await read('xl/_rels/workbook.xml.rels'))![1]
  const xml = await read(`xl/${target}`)
  return [...xml.matchAll(new RegExp(`<c r="${column}\\d+"[^>]*><v>([^<]*)</v></c>`, 'g'))].map((match) =>
    match[1]!
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&'),
  )
}
