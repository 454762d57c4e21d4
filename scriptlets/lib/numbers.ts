/**
 * NAME:    lib/numbers
 * DESC:    Reads a list of numbers from ctx with a clear error when it is missing
 *          (DependencyError, exit 2, from ctx.require) or has the wrong shape
 *          (ScriptletError, exit 1), so each metric scriptlet need not re-check it.
 */
import { ScriptletError, type ScriptletContext } from 'vitest-recipes/scriptlet'

export function requireNumbers(ctx: ScriptletContext, key: string): number[] {
  const value = ctx.require(key)
  if (!Array.isArray(value)) {
    throw new ScriptletError(`ctx "${key}" is not a list of numbers`, {
      details: { key, type: value === null ? 'null' : typeof value },
    })
  }
  const bad = value.flatMap((item, index) => (typeof item === 'number' ? [] : [index]))
  if (bad.length > 0) {
    throw new ScriptletError(`ctx "${key}" holds non-numbers at index ${bad.slice(0, 5).join(', ')}`, {
      details: { key, bad_indexes: bad },
    })
  }
  return value as number[]
}

/** The same list, refusing an empty one: statistics of nothing are undefined. */
export function requireNonEmptyNumbers(ctx: ScriptletContext, key: string): number[] {
  const values = requireNumbers(ctx, key)
  if (values.length === 0)
    throw new ScriptletError(`ctx "${key}" is empty: nothing to compute`, { details: { key, count: 0 } })
  return values
}
