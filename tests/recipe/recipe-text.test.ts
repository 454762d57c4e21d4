import { Buffer } from 'node:buffer'
import { describe, expect, test } from 'vitest'
import { LineCounter, parseDocument } from 'yaml'
import { pyYamlBooleanWarnings } from '../../plugin/recipe/pyyaml-booleans.ts'
import { formatRecipeIssue } from '../../plugin/recipe/errors.ts'
import { readRecipe } from '../../plugin/recipe/parse.ts'
import {
  MAX_RECIPE_BYTES,
  MAX_RECIPE_DEPTH,
  parseRecipeYaml,
  RECIPE_YAML_OPTIONS,
} from '../../plugin/recipe/recipe-text.ts'

/** Recipe files as editors and tools on a lab's machines write them: the bytes, read as the plugin and the CLI read them. */
const asRead = (bytes: Buffer) => bytes.toString('utf8')

const TWO_STEPS = `test_meta:
  test_id: T1
steps:
  - name: first
    type: ts
    module: m.ts

  - name: second
    type: ts
    module: m.ts
    timeout: soon
`

function where(text: string) {
  return readRecipe(text, 'recipes/x.yaml').issues.map((issue) => [
    issue.code,
    issue.location?.line,
    issue.location?.column,
  ])
}

describe('line endings and byte order marks keep every place exact', () => {
  test('a UTF-8 BOM (Notepad, PowerShell) is no column of line 1: the first key is at 1:1 and its code frame shows no BOM', () => {
    const text = asRead(Buffer.from(`\uFEFFtest_metaa:\r\n  test_id: T1\r\nsteps: []\r\n`, 'utf8'))
    const issue = readRecipe(text, 'recipes/x.yaml').issues.find((one) => one.code === 'RECIPE_UNKNOWN_KEY')
    expect(issue).toMatchObject({ location: { line: 1, column: 1, sourceLine: 'test_metaa:' } })
  })

  test('old Mac line endings (CR alone) are line breaks, as YAML says: steps at their lines', () => {
    const reading = readRecipe(TWO_STEPS.replaceAll('\n', '\r'), 'recipes/x.yaml')
    expect(reading.issues.map((issue) => [issue.path, issue.location?.line, issue.location?.column])).toEqual([
      ['steps[1].timeout', 11, 14],
    ])
    expect(reading.steps.map((step) => step.locations.step.line)).toEqual([4, 8])
  })
})

describe('a file that is not UTF-8 text is said to be so, never read as garbage', () => {
  for (const [name, bytes] of [
    ['UTF-16 LE with BOM (PowerShell 5 `>`, Notepad "Unicode")', Buffer.from(`\uFEFF${TWO_STEPS}`, 'utf16le')],
    ['UTF-16 BE with BOM', Buffer.from(`\uFEFF${TWO_STEPS}`, 'utf16le').swap16()],
  ] as const)
    test(name, () => {
      const issues = readRecipe(asRead(bytes), 'recipes/x.yaml').issues
      expect(issues).toHaveLength(1)
      expect(issues[0]).toMatchObject({
        code: 'RECIPE_ENCODING',
        location: { file: 'recipes/x.yaml', line: 1, column: 1 },
      })
      expect(issues[0]!.message).toContain('UTF-16')
      expect(issues[0]!.hint).toContain('UTF-8')
      // No garbage in the message: the code frame is left out.
      const shown = formatRecipeIssue(issues[0]!)
      expect(shown.includes('\u0000') || shown.includes('\uFFFD')).toBe(false)
    })

  test('UTF-16 without a BOM (NUL bytes) too', () => {
    const issues = readRecipe(asRead(Buffer.from(TWO_STEPS, 'utf16le')), 'recipes/x.yaml').issues
    expect(issues.map((issue) => issue.code)).toEqual(['RECIPE_ENCODING'])
  })

  test('a Windows-1252 / Latin-1 byte (a tester "José" saved as ANSI) is an error at its place', () => {
    const text = asRead(Buffer.from('test_meta:\n  tester: Jos\xe9\nsteps: []\n', 'latin1'))
    const [issue, ...rest] = readRecipe(text, 'recipes/x.yaml').issues
    expect(rest).toEqual([])
    expect(issue).toMatchObject({ code: 'RECIPE_ENCODING', location: { line: 2, column: 14 } })
    expect(issue!.hint).toContain('UTF-8')
  })
})

describe('YAML anchors, aliases and merge keys', () => {
  const withDefaults = `defaults: &defaults
  type: ts
  module: m.ts
  timeout: 30
steps:
  - <<: *defaults
    name: first
  - <<: *defaults
    name: second
    timeout: 5
`
  test('merge keys (<<: *defaults) fill a step, its own keys win (PyYAML, the older framework, reads them so)', () => {
    const reading = readRecipe(withDefaults, 'recipes/x.yaml')
    expect(reading.issues).toEqual([])
    expect(reading.recipe!.steps.map((step) => [step.name, step.type, step.module, step.timeoutSec])).toEqual([
      ['first', 'ts', 'm.ts', 30],
      ['second', 'ts', 'm.ts', 5],
    ])
    expect(reading.recipe!.steps.map((step) => step.locations.step.line)).toEqual([6, 8])
  })

  test('a merged value with a problem is reported where it is written, in the anchored mapping', () => {
    const text = withDefaults.replace('timeout: 30', 'timeout: later').replace('    timeout: 5\n', '')
    expect(where(text)).toEqual([
      ['RECIPE_SCHEMA', 4, 12],
      ['RECIPE_SCHEMA', 4, 12],
    ])
  })

  test('a top-level key that only holds anchors for the steps is no unknown key; one that holds nothing used still is', () => {
    expect(where(withDefaults)).toEqual([])
    expect(
      where(
        `x-kinds:\n  ts: &ts { type: ts, module: m.ts }\n  unused: &unused { x: 1 }\nsteps:\n  - { <<: *ts, name: a }\n`,
      ),
    ).toEqual([])
    expect(where(`defaults: &defaults { type: ts }\nsteps:\n  - { name: a, type: ts, module: m.ts }\n`)).toEqual([
      ['RECIPE_UNKNOWN_KEY', 1, 1],
    ])
  })

  test('a merge of something that is not a mapping is a clear error at the merge', () => {
    const [issue, ...rest] = readRecipe(
      `steps:\n  - <<: 5\n    name: a\n    type: ts\n    module: m.ts\n`,
      'recipes/x.yaml',
    ).issues
    expect(rest).toEqual([])
    expect(issue).toMatchObject({ code: 'RECIPE_YAML_SYNTAX', location: { line: 2, column: 5 } })
    expect(issue!.message).toContain('<<')
  })

  test('a billion laughs made of merge keys is refused quickly at its first alias', () => {
    let text = 'a0: &a0 { x: 1 }\n'
    for (let i = 1; i < 30; i++)
      text += `a${i}: &a${i}\n  <<: [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`
    const started = performance.now()
    const issues = readRecipe(`${text}steps: []\n`, 'recipes/x.yaml').issues
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(issues.map((issue) => [issue.code, issue.location?.line])).toEqual([['RECIPE_YAML_SYNTAX', 3]])
  })
})

describe('limits: a file too big or too deep is refused with a clear error, before it eats the memory or the stack', () => {
  test(`a recipe over ${MAX_RECIPE_BYTES / 1e6} MB (a 50 MB inline data table) is refused without being parsed`, () => {
    const row = '        - [1.25, 2.5, 3.75, "lab-sample-value", 42]\n'
    const text = `steps:\n  - name: a\n    type: ts\n    module: m.ts\n    args:\n      rows:\n${row.repeat(Math.ceil(50e6 / row.length))}`
    const started = performance.now()
    const issues = readRecipe(text, 'recipes/x.yaml').issues
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(issues).toHaveLength(1)
    expect(issues[0]).toMatchObject({ code: 'RECIPE_TOO_LARGE', location: { file: 'recipes/x.yaml' } })
    expect(issues[0]!.message).toContain('50.0 MB')
    expect(issues[0]!.hint).toContain('Data/')
    // The readers that look into every recipe when Vitest starts (tags, matrix) skip it too.
    expect(parseRecipeYaml(text)).toBeUndefined()
  })

  for (const [what, value, deepest] of [
    ['flow', (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`, 5_000],
    // Each level indents one more space: 1,500 levels are 1.1 MB.
    ['block', (n: number) => `${Array.from({ length: n }, (_, i) => `\n${' '.repeat(6 + i)}k:`).join('')} v`, 1_500],
  ] as const)
    for (const depth of [MAX_RECIPE_DEPTH + 5, deepest])
      test(`values nested ${depth} levels deep (${what}) are refused as such, not as a stack overflow`, () => {
        const text = `steps:\n  - name: a\n    type: ts\n    module: m.ts\n    args:\n      deep: ${value(depth)}\n`
        const issues = readRecipe(text, 'recipes/x.yaml').issues
        expect(issues).toHaveLength(1)
        expect(issues[0]!.code).toBe('RECIPE_TOO_LARGE')
        expect(issues[0]!.message).toContain('nested')
        expect(issues[0]!.message).not.toContain('call stack')
        expect(issues[0]!.location?.line).toBeGreaterThanOrEqual(6)
      })

  test(`${MAX_RECIPE_DEPTH} levels are fine`, () => {
    const deep = `${'['.repeat(MAX_RECIPE_DEPTH - 5)}${']'.repeat(MAX_RECIPE_DEPTH - 5)}`
    expect(where(`steps:\n  - name: a\n    type: ts\n    module: m.ts\n    args:\n      deep: ${deep}\n`)).toEqual([])
  })
})

describe('YAML errors say what to do', () => {
  test('several documents in one file: said in recipe terms, at the second', () => {
    const [issue, ...rest] = readRecipe(
      'steps:\n  - { name: a, type: ts, module: m.ts }\n---\nsteps:\n  - { name: b, type: ts, module: m.ts }\n',
      'recipes/x.yaml',
    ).issues
    expect(rest).toEqual([])
    expect(issue).toMatchObject({ code: 'RECIPE_YAML_SYNTAX', location: { line: 3, column: 1 } })
    expect(issue!.message).not.toContain('parseAllDocuments')
    expect(issue!.message).toContain('more than one YAML document')
  })

  test('a tab used for indentation: at the tab, with what to do', () => {
    const [issue] = readRecipe('steps:\n  - name: a\n\ttype: ts\n', 'recipes/x.yaml').issues
    expect(issue).toMatchObject({ code: 'RECIPE_YAML_SYNTAX', location: { line: 3, column: 1 } })
    expect(issue!.hint).toMatch(/spaces/)
  })

  test('a key written twice names the key', () => {
    const [issue] = readRecipe(
      'steps:\n  - name: a\n    type: ts\n    module: m.ts\n    module: n.ts\n',
      'recipes/x.yaml',
    ).issues
    expect(issue).toMatchObject({ code: 'RECIPE_YAML_SYNTAX', location: { line: 5, column: 5 } })
    expect(issue!.message).toContain('"module"')
  })

  test('the yes/no/on/off of PyYAML (the older framework) are booleans in the settings, where YAML 1.2 reads strings', () => {
    const reading = readRecipe(
      `parallel: yes
step_metrics: On
defaults: &defaults { type: ts, module: m.ts, requires_process: YES }
steps:
  - { <<: *defaults, name: a, parallel: no, args: { mode: on } }
  - { <<: *defaults, name: b, parallel: off, cache: "no" }
`,
      'recipes/x.yaml',
    )
    // A quoted "no" stays a string (PyYAML read it so too): refused where a boolean is needed.
    expect(reading.issues.map((issue) => issue.path)).toEqual(['steps[1].cache'])
    const [a, b] = reading.steps
    expect([a!.parallel, a!.requiresProcess, a!.params, b!.parallel]).toEqual([false, true, { mode: 'on' }, false])
    const ok = readRecipe(
      'parallel: yes\nstep_metrics: On\nsteps:\n  - { name: a, type: ts, module: m.ts, requires_process: Yes }\n',
      'recipes/x.yaml',
    )
    expect(ok.issues).toEqual([])
    expect([ok.recipe!.stepMetrics, ok.recipe!.steps[0]!.parallel, ok.recipe!.steps[0]!.requiresProcess]).toEqual([
      true,
      true,
      true,
    ])
  })
})

describe("args the older framework's YAML read otherwise", () => {
  const yamlBooleanWarnings = (text: string, file: string) => {
    const lines = new LineCounter()
    return pyYamlBooleanWarnings(parseDocument(text, { ...RECIPE_YAML_OPTIONS, lineCounter: lines }), lines, file)
  }
  const RECIPE = `test_meta: { test_id: T-1 }
defaults: &probe
  args: { fast: on }
steps:
  - name: probe
    type: python
    module: probe.py
    class: Probe
    args:
      verbose: no
      label: "no"
      mode: off-line
      nested: { retry: [1, YES], keep: false }
  - name: again
    <<: *probe
    type: exec
    cmd: [echo]
    params: { dry: Off }
`
  test('an unquoted yes/no/on/off in args is said where it is, with what PyYAML made of it; quoted or other words are not', () => {
    expect(yamlBooleanWarnings(RECIPE, 'recipes/old.yaml')).toEqual([
      'recipes/old.yaml:3:17 RECIPE_YAML_BOOLEAN warning: args.fast of step "again" is the text "on"; the older framework (PyYAML) read it as true. Write true, or "on" in quotes, to say which.',
      'recipes/old.yaml:10:16 RECIPE_YAML_BOOLEAN warning: args.verbose of step "probe" is the text "no"; the older framework (PyYAML) read it as false. Write false, or "no" in quotes, to say which.',
      'recipes/old.yaml:13:28 RECIPE_YAML_BOOLEAN warning: args.nested.retry[1] of step "probe" is the text "YES"; the older framework (PyYAML) read it as true. Write true, or "YES" in quotes, to say which.',
      'recipes/old.yaml:18:20 RECIPE_YAML_BOOLEAN warning: params.dry of step "again" is the text "Off"; the older framework (PyYAML) read it as false. Write false, or "Off" in quotes, to say which.',
    ])
  })
  test('a recipe without such words, or one that cannot be read, has none', () => {
    expect(yamlBooleanWarnings(TWO_STEPS, 'recipes/a.yaml')).toEqual([])
    expect(yamlBooleanWarnings('steps: [\n', 'recipes/a.yaml')).toEqual([])
  })
})
