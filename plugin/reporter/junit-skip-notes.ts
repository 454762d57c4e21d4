import { JUnitReporter } from 'vitest/node'
import { visibleText } from '../format/document-text.ts'

/** What a JUnit testcase is written from: the test, its skip note in its result. */
interface JUnitTask {
  result?: { note?: string }
}

/** The parts of Vitest's JUnit reporter this relies on (the same in 4.1 and 5.1). */
interface JUnitWriter {
  writeTasks?: (this: JUnitWriter, tasks: readonly JUnitTask[], ...rest: unknown[]) => Promise<void>
  logger?: { log(text: string): unknown }
}

const BARE_SKIPPED = '<skipped/>'
const WITH_NOTES = Symbol('vitest-recipes: skip notes')

/**
 * Makes Vitest's JUnit reporters say why a test was skipped: `<skipped message="blocked:
 * probe failed"/>` for a test that called `skip(note)` (a blocked step, a `--skip`ped one, one
 * before `--resume-from`), where Vitest 4.1 and 5.1 write a bare `<skipped/>` and drop the
 * note. CI servers show the message as the reason.
 *
 * The reporter writes its testcases one by one (`writeTasks`), each line through its
 * `logger`: each testcase is written on its own here, with the bare element given its test's
 * note. A JUnit reporter of another shape is left as it is (the bare element, no failure).
 */
export function addJUnitSkipNotes(reporters: readonly unknown[]): void {
  for (const reporter of reporters) {
    if (!(reporter instanceof JUnitReporter)) continue
    const writer = reporter as unknown as JUnitWriter & { [WITH_NOTES]?: true }
    const writeTasks = writer.writeTasks
    if (typeof writeTasks !== 'function' || writer[WITH_NOTES]) continue
    writer[WITH_NOTES] = true
    writer.writeTasks = async function (this: JUnitWriter, tasks, ...rest) {
      for (const task of tasks) {
        const note = task.result?.note
        const logger = this.logger
        if (!note || typeof logger?.log !== 'function') {
          await writeTasks.call(this, [task], ...rest)
          continue
        }
        const log = logger.log
        logger.log = (text: string) =>
          log.call(logger, text === BARE_SKIPPED ? `<skipped message="${escapeXmlAttribute(note)}"/>` : text)
        try {
          await writeTasks.call(this, [task], ...rest)
        } finally {
          logger.log = log
        }
      }
    }
  }
}

/** A value for an XML attribute: markup escaped, the characters XML 1.0 forbids shown as the documents show them (visibleText). */
export function escapeXmlAttribute(text: string): string {
  return visibleText(text).replace(/[&<>"'\n\r\t]/g, (char) => XML_ENTITIES[char]!)
}

const XML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\n': '&#10;',
  '\r': '&#13;',
  '\t': '&#9;',
}
