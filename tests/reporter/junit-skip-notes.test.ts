import { JUnitReporter } from 'vitest/node'
import { expect, test } from 'vitest'
import { addJUnitSkipNotes, escapeXmlAttribute } from '../../plugin/reporter/junit-skip-notes.ts'

interface FakeTask {
  name: string
  mode: 'run' | 'skip'
  result?: { note?: string }
}

interface RecordingJUnit {
  lines: string[]
  logger: { log(text: string): Promise<void> }
  writeTasks(tasks: FakeTask[], filename: string): Promise<void>
}

/** Vitest's JUnit reporter in the shape it writes testcases (4.1 and 5.1): writeTasks, each line through logger.log. */
function recordingJUnit(): RecordingJUnit {
  const lines: string[] = []
  const junit: RecordingJUnit = Object.create(JUnitReporter.prototype)
  return Object.assign(junit, {
    lines,
    logger: { log: async (text: string) => void lines.push(text) },
    async writeTasks(this: RecordingJUnit, tasks: FakeTask[]) {
      for (const task of tasks) {
        await this.logger.log(`<testcase name="${task.name}">`)
        if (task.mode === 'skip') await this.logger.log('<skipped/>')
        await this.logger.log('</testcase>')
      }
    },
  })
}

test("each skipped testcase carries its own test's skip note; one without a note stays bare", async () => {
  const junit = recordingJUnit()
  addJUnitSkipNotes([{ name: 'default' }, junit])
  addJUnitSkipNotes([junit]) // Watch mode inits the reporters again: the note is given once.
  const tasks: FakeTask[] = [
    { name: 'probe', mode: 'run', result: {} },
    { name: 'measure', mode: 'skip', result: { note: 'blocked: probe failed' } },
    { name: 'filtered', mode: 'skip' },
    { name: 'report', mode: 'skip', result: { note: 'skipped (--skip) & "quoted" <tag>' } },
  ]
  await junit.writeTasks(tasks, 'recipes/lab.yaml')
  expect(junit.lines).toEqual([
    '<testcase name="probe">',
    '</testcase>',
    '<testcase name="measure">',
    '<skipped message="blocked: probe failed"/>',
    '</testcase>',
    '<testcase name="filtered">',
    '<skipped/>',
    '</testcase>',
    '<testcase name="report">',
    '<skipped message="skipped (--skip) &amp; &quot;quoted&quot; &lt;tag&gt;"/>',
    '</testcase>',
  ])
})

test('an XML attribute value keeps its line breaks as references and shows what XML forbids as the documents do', () => {
  expect(escapeXmlAttribute("a\nb\tc 'd'\u0007 \x1b[31m\uFFFE")).toBe('a&#10;b&#9;c &apos;d&apos;␇ ␛[31m\\uFFFE')
})
