import { officeToPdf } from '../office-pdf.ts'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import JSZip from 'jszip'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { inkAtEdges } from '../charts/png.ts'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, DEFAULT_CONFIG, type TestProject } from './project.ts'

// The charts of a run's documents, through the real `vitest` CLI: a recipe with parallel
// steps, a retried step and metrics, run twice so its metrics have a trend. The PNGs beside
// the documents, inside report.xlsx and report.docx, and a page of report.docx as
// LibreOffice prints it (CI installs LibreOffice and poppler-utils, .ci/run; elsewhere that check may be skipped).
const RECIPE = `test_meta: { test_id: CHART-1, tester: dana, description: Charts and the step graph }
steps:
  - { idx: 1, name: boot, type: ts, module: scriptlets/set_key.ts, args: { key: dut.boot_v1, value: on } }
  - { idx: 2, name: port_a, type: ts, module: scriptlets/measure.ts, args: { port: 1 }, depends_on: boot, parallel: true }
  - { idx: 3, name: port_b, type: ts, module: scriptlets/measure.ts, args: { port: 2 }, depends_on: boot, parallel: true }
  - { idx: 4, name: flaky, type: ts, module: scriptlets/flaky.ts, depends_on: [port_a, port_b], retry: { max: 1, delay_sec: 0.2 } }
`
const MEASURE = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'measure',
  run(ctx, params, { step }) {
    const gbps = Number(process.env.LAB_GBPS) + params.port / 10
    ctx.set(\`lab.port\${params.port}_v1\`, gbps, { who: step })
    return { metrics: { gbps } }
  },
})
`
// Fails its first attempt in each run, passes the retry.
const FLAKY = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
let attempts = 0
export default defineScriptlet({
  name: 'flaky',
  run() {
    if (++attempts === 1) throw new Error('the switch was busy')
    return {}
  },
})
`
const CHARTS = [
  'metric_boot.written.png',
  'metric_port_a.gbps.png',
  'metric_port_b.gbps.png',
  'step_durations.png',
  'step_sequence.png',
]

let project: TestProject
let dir: string
beforeAll(async () => {
  project = createProject(
    {
      'recipes/charts.yaml': RECIPE,
      'scriptlets/measure.ts': MEASURE,
      'scriptlets/flaky.ts': FLAKY,
      ...fixtureScriptlets(),
    },
    { config: DEFAULT_CONFIG },
  )
  for (const gbps of ['9.1', '9.4']) {
    const result = await project.vitest(['run', 'recipes/'], { env: { LAB_GBPS: gbps } })
    expect(result.code, result.output).toBe(0)
  }
  const runs = readdirSync(join(project.root, 'reports')).filter((name) => /^\d{8}T/.test(name))
  expect(runs).toHaveLength(2)
  dir = join(project.root, 'reports', runs.sort().at(-1)!)
}, 120_000)
afterAll(() => project?.remove())

test('the PNGs beside the documents, linked from report.md, inside report.xlsx and report.docx; the graph stored with the run', async () => {
  expect(readdirSync(join(dir, 'charts')).sort()).toEqual(CHARTS)
  for (const name of CHARTS) {
    const png = readFileSync(join(dir, 'charts', name))
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG')
    expect(png.readUInt32BE(16)).toBeGreaterThan(300)
  }
  const md = readFileSync(join(dir, 'report.md'), 'utf8')
  expect(md).toContain('## Charts')
  expect(md).toContain('![Step durations](charts/step_durations.png)')
  expect(md).toContain('![Step graph](charts/step_sequence.png)')
  expect(md).toContain('![port_a.gbps](charts/metric_port_a.gbps.png)')
  const media = async (file: string, folder: string) =>
    Object.keys((await JSZip.loadAsync(readFileSync(join(dir, file)))).files).filter(
      (name) => name.startsWith(folder) && name.endsWith('.png'),
    )
  expect(await media('report.xlsx', 'xl/media/')).toHaveLength(CHARTS.length)
  expect(await media('report.docx', 'word/media/')).toHaveLength(CHARTS.length)

  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const rows = db.prepare("SELECT json_extract(metadata, '$.steps_graph') AS graph FROM runs").all() as {
      graph: string
    }[]
    expect(JSON.parse(rows[0]!.graph)).toEqual([
      { step: 'boot', needs: [], parallel: false },
      { step: 'port_a', needs: ['boot'], parallel: true },
      { step: 'port_b', needs: ['boot'], parallel: true },
      { step: 'flaky', needs: ['port_a', 'port_b'], parallel: false },
    ])
    const flaky = db.prepare("SELECT attempts, attempt_log FROM step_metrics WHERE step = 'flaky' LIMIT 1").get() as {
      attempts: number
      attempt_log: string
    }
    expect([flaky.attempts, JSON.parse(flaky.attempt_log).map((a: { status: string }) => a.status)]).toEqual([
      2,
      ['failed', 'passed'],
    ])
  } finally {
    db.close()
  }
})

test('nothing drawn is cut: the PNGs inside report.docx and report.xlsx have no ink in their outermost pixels', async () => {
  for (const [file, folder] of [
    ['report.docx', 'word/media/'],
    ['report.xlsx', 'xl/media/'],
  ] as const) {
    const zip = await JSZip.loadAsync(readFileSync(join(dir, file)))
    const pngs = Object.keys(zip.files).filter((name) => name.startsWith(folder) && name.endsWith('.png'))
    expect(pngs).toHaveLength(CHARTS.length)
    for (const name of pngs)
      expect(inkAtEdges(await zip.file(name)!.async('uint8array')), `${file}: ${name}`).toEqual([])
  }
})

/** LibreOffice and poppler-utils (pdftoppm, pdfimages, pdftotext, pdfinfo). */
const hasTools = () =>
  spawnSync('soffice', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('pdftoppm', ['-v'], { stdio: 'ignore' }).status === 0

test.skipIf(!hasTools() && !process.env.CI)(
  'LibreOffice prints report.docx with its charts: the PDF holds the pictures, and the page of the first is not blank',
  () => {
    const out = mkdtempSync(join(tmpdir(), 'vitest-recipes-charts-lo-'))
    try {
      officeToPdf([join(dir, 'report.docx')], out, 120_000)
      const pdf = join(out, 'report.pdf')
      // One picture per chart (each with its alpha channel, listed as an smask).
      const listed = spawnSync('pdfimages', ['-list', pdf], { encoding: 'utf8' }).stdout.trim().split('\n').slice(2)
      expect(listed.filter((line) => line.trim().split(/\s+/)[2] === 'image')).toHaveLength(CHARTS.length)
      // The page with the first chart's caption, and on it the band between the text above
      // the picture and its caption (below the picture): where the picture is (points).
      const pages = Number(/Pages:\s+(\d+)/.exec(spawnSync('pdfinfo', [pdf], { encoding: 'utf8' }).stdout)![1])
      const words = (n: number) =>
        [
          ...spawnSync('pdftotext', ['-bbox', '-f', String(n), '-l', String(n), pdf, '-'], {
            encoding: 'utf8',
          }).stdout.matchAll(/<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)<\/word>/g),
        ].map((match) => ({ top: Number(match[1]), bottom: Number(match[2]), text: match[3]! }))
      const page = Array.from({ length: pages }, (_, i) => i + 1).find((n) =>
        words(n).some((word, i, all) => word.text === 'Figure' && all[i + 1]?.text === '1.'),
      )!
      expect(page).toBeDefined()
      const onPage = words(page)
      const caption = onPage.find((word, i) => word.text === 'Figure' && onPage[i + 1]?.text === '1.')!
      const above = Math.max(0, ...onPage.filter((word) => word.bottom <= caption.top).map((word) => word.bottom))
      // The page in grey at 50 dpi: a PGM file, a header then one byte per pixel.
      const rendered = spawnSync('pdftoppm', [
        '-r',
        '50',
        '-gray',
        '-f',
        String(page),
        '-l',
        String(page),
        pdf,
        join(out, 'page'),
      ])
      expect(rendered.status, String(rendered.stderr)).toBe(0)
      const pgm = readFileSync(join(out, readdirSync(out).find((name) => name.endsWith('.pgm'))!))
      const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.subarray(0, 30).toString('latin1'))!
      const width = Number(header[1])
      const pixels = pgm.subarray(header[0].length)
      expect(pixels.length).toBe(width * Number(header[2]))
      const band = pixels.subarray(Math.ceil((above * 50) / 72) * width, Math.floor((caption.top * 50) / 72) * width)
      expect(band.length / width).toBeGreaterThan(50)
      // Blank would be all white: the chart's bars, labels and axes ink it, in many greys.
      expect(band.filter((value) => value < 230).length / band.length).toBeGreaterThan(0.01)
      expect(new Set(band).size).toBeGreaterThan(20)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  },
  120_000,
)
