import { spawnSync } from 'node:child_process'
import { copyFileSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import JSZip from 'jszip'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { readRows } from '../store/rows.ts'
import { createProject, DEFAULT_CONFIG, type TestProject } from './project.ts'

// A run whose text is hostile to documents, through the real run: a scriptlet's colour codes
// and a NUL in what it prints, saves and fails with, a description with an escape in it, and
// a 10 MB line of output. Every document the run writes still parses, and LibreOffice opens it.

const CONFIG = DEFAULT_CONFIG.replace(
  'defineConfig({',
  "defineConfig({ test: { reporters: ['default', 'junit'], outputFile: { junit: 'reports/junit.xml' } },",
).replace('recipes()', 'recipes({ allure: true })')

let project: TestProject
let output: string
beforeAll(async () => {
  project = createProject(
    {
      'recipes/hostile.yaml': `test_meta:
  test_id: HOSTILE-1
  description: "colours \\e[31mred\\e[0m and a bell \\a"
steps:
  - { idx: 1, name: colours, type: exec, cmd: [printf, '\\033[31mred\\033[0m nul:\\000:'], parse: raw, save: { lab.colours_v1: output } }
  - { idx: 2, name: long_line, type: exec, cmd: [sh, -c, 'head -c 10485760 /dev/zero | tr "\\000" x'], parse: raw, save: { lab.long_v1: output }, depends_on: [] }
  - { idx: 3, name: fails_red, type: exec, cmd: [sh, scriptlets/fails_red.sh], depends_on: [] }
`,
      // Colour codes on stderr, and in the reason of its error envelope (with a NUL).
      'scriptlets/fails_red.sh': `printf '\\033[31mboom\\033[0m\\n' >&2
printf '{"status":"error","reason":"\\\\u001b[31mboom\\\\u001b[0m \\\\u0000"}\\n'
exit 3
`,
    },
    { config: CONFIG },
  )
  const result = await project.vitest(['run', 'recipes/hostile.yaml'])
  output = result.output
  expect(result.code, output).toBe(1)
}, 120_000)
afterAll(() => project?.remove())

/** The characters XML 1.0 forbids, as characters or as character references. */
const NOT_XML =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the ones it finds
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|&#(?:x0*(?:[0-8bcef]|1[0-9a-f])|0*(?:[0-8]|1[1240-9]|2\d|3[01]));/i

function runDir(): string {
  const runs = readdirSync(join(project.root, 'reports')).filter((name) => name.includes('hostile'))
  expect(runs, output).toHaveLength(1)
  return join(project.root, 'reports', runs[0]!)
}

test('report.docx and report.xlsx hold no character XML forbids and show the colour codes as ␛', async () => {
  for (const file of ['report.docx', 'report.xlsx']) {
    const zip = await JSZip.loadAsync(readFileSync(join(runDir(), file)))
    let text = ''
    for (const name of Object.keys(zip.files).filter((name) => name.endsWith('.xml') || name.endsWith('.rels'))) {
      const xml = await zip.file(name)!.async('string')
      expect(NOT_XML.exec(xml)?.[0], `${file}: ${name}`).toBeUndefined()
      text += xml
    }
    expect(text, file).toContain('␛[31mred␛[0m nul:␀:')
    expect(text, file).toContain('␛[31mboom')
    // The 10 MB line, cut where it is shown, saying how long it was.
    expect(text, file).toContain('x… (10,485,760 characters in all)')
  }
  expect(readFileSync(join(runDir(), 'report.md'), 'utf8')).toContain('x… (10,485,760 characters in all) |')
})

test('JUnit, Allure results and report.html parse', () => {
  const junit = project.read('reports/junit.xml')
  expect(NOT_XML.exec(junit)?.[0]).toBeUndefined()
  const allure = join(project.root, 'reports/allure-results')
  for (const name of readdirSync(allure).filter((name) => name.endsWith('.json')))
    JSON.parse(readFileSync(join(allure, name), 'utf8'))
  const html = readFileSync(join(runDir(), 'report.html'), 'utf8')
  const data = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)
  expect(JSON.parse(data![1]!).runId).toMatch(/hostile/)
})

test('the run store keeps the text as it came: only the documents show it otherwise', () => {
  const [row] = readRows(
    join(project.root, 'reports/results.sqlite'),
    "SELECT value FROM context_snapshots WHERE key = 'lab.colours_v1'",
  ) as { value: string }[]
  expect(JSON.parse(row!.value)).toBe('\x1b[31mred\x1b[0m nul:\x00:')
})

const hasSoffice = () => spawnSync('soffice', ['--version'], { stdio: 'ignore' }).status === 0

test.runIf(hasSoffice())(
  'LibreOffice opens report.docx and report.xlsx',
  async () => {
    const { officeToPdf } = await import('../office-pdf.ts')
    // Each under a name of its own: both would print to report.pdf.
    copyFileSync(join(runDir(), 'report.docx'), join(project.root, 'word.docx'))
    copyFileSync(join(runDir(), 'report.xlsx'), join(project.root, 'calc.xlsx'))
    officeToPdf([join(project.root, 'word.docx'), join(project.root, 'calc.xlsx')], project.root)
    expect(
      readdirSync(project.root)
        .filter((name) => name.endsWith('.pdf'))
        .sort(),
    ).toEqual(['calc.pdf', 'word.pdf'])
  },
  180_000,
)
