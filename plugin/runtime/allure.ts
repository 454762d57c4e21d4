import type { TestMeta } from '../recipe/types.ts'
import type { RecipeStepMeta } from './meta.ts'

/** allure-vitest's setup installs its test runtime here when its reporter is configured (`allure: true`). */
export function allureActive(): boolean {
  return (globalThis as { allureTestRuntime?: unknown }).allureTestRuntime !== undefined
}

export interface AllureStepInfo {
  testMeta: TestMeta
  description: string | undefined
  /** The step's log text, when it wrote one. */
  log: string | undefined
}

/**
 * Gives the step's Allure result what a lab reader looks for: the recipe as suite, the tester
 * as owner, the recipe's tags, each arg as a parameter, and the log, ctx diff and envelope as
 * attachments. Only called when allure-vitest is active, so allure-js-commons loads only then.
 * Everything passed here is already redacted.
 */
export async function reportStepToAllure(meta: RecipeStepMeta, info: AllureStepInfo): Promise<void> {
  const allure = await import('allure-js-commons')
  const { testMeta } = info
  await allure.parentSuite('recipes')
  await allure.suite(meta.recipe)
  await allure.label('test_id', testMeta.test_id)
  if (testMeta.tester) await allure.owner(testMeta.tester)
  if (testMeta.tags.length > 0) await allure.tags(...testMeta.tags)
  if (Array.isArray(meta.params)) await allure.parameter('args', JSON.stringify(meta.params))
  else
    for (const [name, value] of Object.entries(meta.params))
      await allure.parameter(name, typeof value === 'string' ? value : JSON.stringify(value))
  const lines = [
    info.description,
    testMeta.description ? `Recipe: ${testMeta.description}` : undefined,
    `Step ${meta.idx} (${meta.type}) of ${meta.recipe}, run ${meta.runId}: ${meta.status}`,
  ]
  await allure.description(lines.filter(Boolean).join('\n\n'))
  if (info.log) await allure.attachment('log', info.log, 'text/plain')
  if (meta.writes.length > 0) {
    const diff = meta.writes.map((write) => ({
      key: write.key,
      who: write.who,
      before: write.before ?? null,
      after: write.after,
    }))
    await allure.attachment('ctx diff', JSON.stringify(diff, null, 2), 'application/json')
  }
  if (meta.envelope) await allure.attachment('envelope', JSON.stringify(meta.envelope, null, 2), 'application/json')
}
