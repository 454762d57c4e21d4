import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// What each step printed, and what the plugin says about it, belongs to that step alone: in
// the terminal, in JUnit and in its log, also when steps of a parallel group run side by side.
// And a retried step says in the terminal on which attempt it passed (or that every one failed).
const CONFIG = `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({
  plugins: [recipes({ reports: { formats: ['md'] } })],
  test: { reporters: ['default', 'junit'], outputFile: { junit: 'reports/junit.xml' } },
})
`
let project: TestProject
beforeAll(() => {
  project = createProject(
    {
      'recipes/side_by_side.yaml': `steps:
  - { idx: 1, name: alpha, type: shell, cmd: scriptlets/progress_ticker.sh, args: [alpha, 4], parallel: true }
  - { idx: 2, name: beta, type: shell, cmd: scriptlets/progress_ticker.sh, args: [beta, 4], parallel: true }
  - { idx: 3, name: gamma, type: ts, module: scriptlets/chatty.ts, args: { ticks: 4, ms: 300 }, parallel: true }
`,
      'recipes/retry_passes.yaml': `steps:
  - { idx: 1, name: flaky_link, type: shell, cmd: scriptlets/fails_until.sh, args: [Data/flaky.count, 2], retry: { max: 2 } }
`,
      'recipes/retry_fails.yaml': `steps:
  - { idx: 1, name: dead_link, type: shell, cmd: scriptlets/fails_until.sh, args: [Data/dead.count, 0], retry: { max: 2 } }
`,
    },
    { config: CONFIG },
  )
  project.copyFixture('shell/progress_ticker.sh', 'scriptlets/progress_ticker.sh')
  project.copyFixture('shell/fails_until.sh', 'scriptlets/fails_until.sh')
  project.copyFixture('scriptlets/chatty.ts', 'scriptlets/chatty.ts')
})
afterAll(() => project?.remove())

/** The console blocks Vitest printed for each test (`stdout | recipes/x.yaml > step`), by test name. */
function consoleBlocks(output: string): Map<string, string> {
  const blocks = new Map<string, string>()
  for (const block of output.split(/\n(?=std(?:out|err) \|)/)) {
    const header = /^std(?:out|err) \| \S+ > (\S+)\n/.exec(block)
    if (!header) continue
    const text = block.slice(header[0].length).split('\n\n')[0]!
    blocks.set(header[1]!, `${blocks.get(header[1]!) ?? ''}${text}\n`)
  }
  return blocks
}

/** The body of each `<testcase name="...">` of a JUnit file, by name. */
function junitCases(xml: string): Map<string, string> {
  const cases = new Map<string, string>()
  for (const match of xml.matchAll(/<testcase [^>]*name="([^"]+)"[^>]*>([\s\S]*?)<\/testcase>/g))
    cases.set(match[1]!, match[2]!)
  return cases
}

describe('steps of a parallel group', () => {
  let output: string
  beforeAll(async () => {
    const result = await project.vitest(['run', 'recipes/side_by_side.yaml'])
    expect(result.code, result.output).toBe(0)
    output = result.output
  })

  test("each step's progress and console lines print under its own test in the terminal", () => {
    const blocks = consoleBlocks(output)
    for (const step of ['alpha', 'beta', 'gamma']) {
      const others = ['alpha', 'beta', 'gamma'].filter((name) => name !== step)
      const own = blocks.get(step) ?? ''
      expect(own, output).toContain(`vitest-recipes: ${step}: 100% ${step} tick 4 of 4`)
      for (const other of others) expect(own, output).not.toContain(other)
    }
    expect(blocks.get('gamma')).toContain('gamma says tick 1')
  })

  test("each step's JUnit testcase holds its own output only", () => {
    const cases = junitCases(project.read('reports/junit.xml'))
    for (const step of ['alpha', 'beta', 'gamma']) {
      const body = cases.get(step) ?? ''
      expect(body).toContain(`vitest-recipes: ${step}: 100% ${step} tick 4 of 4`)
      for (const other of ['alpha', 'beta', 'gamma'].filter((name) => name !== step)) expect(body).not.toContain(other)
    }
  })

  test("a shell step's log: stdout is what the script printed, its progress lines under stderr", () => {
    // The only run of the project so far.
    const [run] = readdirSync(join(project.root, 'Logs'))
    const runDir = join(project.root, 'Logs', run!)
    for (const step of ['alpha', 'beta']) {
      const log = readFileSync(join(runDir, `${step === 'alpha' ? 1 : 2}_${step}.log`), 'utf8')
      const stdout = log.split('--- stdout\n')[1]!.split('\n--- stderr')[0]
      expect(stdout).toBe('{"status":"ok","outputs":[],"metrics":{"ticks":4}}')
      expect(log).not.toContain('vitest-recipes:')
      expect(log.split('--- stderr\n')[1]).toContain(`::progress::100 ${step} tick 4 of 4`)
    }
    const gamma = readFileSync(join(runDir, '3_gamma.log'), 'utf8')
    expect(gamma).toContain('gamma says tick 4')
    expect(gamma).not.toContain('vitest-recipes:')
  })
})

describe('retried steps', () => {
  let output: string
  let report: Awaited<ReturnType<TestProject['vitestJson']>>['report']
  beforeAll(async () => {
    const result = await project.vitestJson(['recipes/retry_passes.yaml', 'recipes/retry_fails.yaml'])
    expect(result.code, result.output).toBe(1)
    output = result.output
    report = result.report
  })

  test('the terminal says on which attempt a step passed, and that every attempt failed', () => {
    expect(output).toMatch(/flaky_link\b.*passed on attempt 2 of 3/)
    expect(output).toMatch(/dead_link\b.*failed on all 3 attempts/)
  })

  test('the test keeps the step name (-t and the VS Code extension match on it)', () => {
    const titles = report.testResults.flatMap((file) => file.assertionResults.map((test) => test.title))
    expect(titles.sort()).toEqual(['dead_link', 'flaky_link'])
  })
})
