import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO } from './project.ts'

/** The fixture scriptlets, as files for a test project's scriptlets/ folder. */
export function fixtureScriptlets(): Record<string, string> {
  const read = (name: string) => readFileSync(join(REPO, 'tests/fixtures/scriptlets', name), 'utf8')
  return { 'scriptlets/set_key.ts': read('set_key.ts'), 'scriptlets/classes.ts': read('classes.ts') }
}

/** A TypeScript scriptlet that declares and writes lab.value_v1 (21): the producer of dataflow checks. */
export const PRODUCE_SCRIPTLET = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'produce',
  reads: [],
  outputs: ['lab.value_v1'],
  run(ctx, _params, { step }) {
    ctx.set('lab.value_v1', 21, { who: step })
  },
})
`
