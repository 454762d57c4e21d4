import type { RecipeStep } from './types.ts'

/**
 * The keys a step promises to leave in ctx: the keys its checks name, its `save:` keys, and
 * the outputs its scriptlet declares (known only once the scriptlet is loaded).
 */
export function declaredOutputs(step: RecipeStep, scriptletOutputs: readonly string[] = []): string[] {
  const { ctx_has_keys = [], outputs = [], ctx_equals = {}, ctx_matches = {} } = step.success
  return [
    ...new Set([
      ...ctx_has_keys,
      ...outputs,
      ...Object.keys(ctx_equals),
      ...Object.keys(ctx_matches),
      ...Object.keys(step.save),
      ...scriptletOutputs,
    ]),
  ]
}
