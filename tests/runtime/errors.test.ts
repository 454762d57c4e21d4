import { join } from 'node:path'
import { expect, test } from 'vitest'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { StepFailedError } from '../../plugin/runtime/errors.ts'
import { errorEnvelope } from '../../plugin/scriptlet/envelope.ts'

const REPO = join(import.meta.dirname, '../..')
const step = parseRecipe('steps:\n  - { name: probe, type: ts, module: scriptlets/probe.ts }\n', 'recipes/x.yaml')
  .steps[0]!

test("the user's frames come first, the plugin's after them once; the cause keeps only its first line", () => {
  const cause = new Error('ctx key "bad" is not namespace.entity_vN')
  cause.stack = [
    'Error: ctx key "bad" is not namespace.entity_vN',
    `    at StepContext.set (${join(REPO, 'dist/context/step-context.js')}:40:11)`,
    '    at Object.run (/lab/scriptlets/probe.ts:9:9)',
    `    at invokeScriptlet (file://${join(REPO, 'dist/scriptlet/invoke.js')}:39:25)`,
    '    at helper (/lab/node_modules/lab-lib/index.js:3:1)',
  ].join('\n')
  const error = new StepFailedError(step, errorEnvelope('probe', cause.message, 1), 'failed', cause)
  expect(error.stack!.split('\n').slice(1)).toEqual([
    '    at Object.run (/lab/scriptlets/probe.ts:9:9)',
    '    at helper (/lab/node_modules/lab-lib/index.js:3:1)',
    `    at StepContext.set (${join(REPO, 'dist/context/step-context.js')}:40:11)`,
    `    at invokeScriptlet (file://${join(REPO, 'dist/scriptlet/invoke.js')}:39:25)`,
  ])
  expect(cause.stack).toBe('Error: ctx key "bad" is not namespace.entity_vN')
  expect(error.cause).toBe(cause)
})

test('a cause that is not an Error lends nothing', () => {
  const error = new StepFailedError(step, errorEnvelope('probe', 'x', 1), 'failed', 'a string')
  expect(error.stack).toBe(`StepFailedError: ${error.message}`)
})
