import type { Context, ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { StepContext } from '../context/step-context.ts'
import { tail } from '../executors/output.ts'
import { pythonModuleFile, pythonSearchPath } from '../recipe/python-module.ts'
import { stepProgramFile } from '../recipe/step-program.ts'
import type { RecipeStep } from '../recipe/types.ts'
import { EXIT_FAILED, errorEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import { assertSuccessChecks, type ValueRedactor } from './checks.ts'
import { StepFailedError } from './errors.ts'

/**
 * Compares what a step did with what its recipe expects: an error envelope fails the step
 * (showing the stderr tail) unless `expect: error` asked for it; a success must pass the
 * `success:` checks. Returns the failure, if any (a promise of it when there are checks to run).
 */
export async function judgeOutcome(
  step: RecipeStep,
  { envelope, error }: { envelope: Envelope; error?: unknown },
  stderr: string,
  ctx: Context,
  root: string,
  /** Masks secrets in the values a failed check quotes (before they are shortened, which could cut one). */
  redactor?: ValueRedactor,
): Promise<Error | undefined> {
  const expected = step.expect
  if (envelope.status === 'error') {
    if (expected.status === 'ok') {
      const stderrTail = stderr.trim() ? `\n--- stderr (last lines)\n${tail(stderr)}` : ''
      return new StepFailedError(
        step,
        envelope,
        `failed with exit code ${envelope.exit_code}: ${envelope.reason}${stderrTail}`,
        error,
      )
    }
    if (expected.reasonMatches !== undefined && !new RegExp(expected.reasonMatches).test(envelope.reason)) {
      return new StepFailedError(
        step,
        envelope,
        `failed as expected, but its reason ${JSON.stringify(envelope.reason)} does not match /${expected.reasonMatches}/ (expect.reason_matches)`,
        error,
      )
    }
    if (expected.exitCode !== undefined && expected.exitCode !== envelope.exit_code) {
      return new StepFailedError(
        step,
        envelope,
        `failed as expected, but with exit code ${envelope.exit_code} instead of ${expected.exitCode} (expect.exit_code)`,
        error,
      )
    }
    return undefined
  }
  if (expected.status === 'error')
    return new StepFailedError(step, envelope, 'succeeded, but the recipe expects it to fail (expect: error)')
  // Most steps have no success checks: nothing to load or assert.
  if (!hasKeys(step.success)) return undefined
  try {
    await assertSuccessChecks(step, ctx, envelope, root, redactor)
    return undefined
  } catch (assertion) {
    return assertion as Error
  }
}

/** `save: {key: field}`: stores envelope fields in ctx as the step; a missing field fails it. */
export function saveOutputs(step: RecipeStep, envelope: Envelope, ctx: StepContext): Envelope {
  if (envelope.status !== 'ok' || !hasKeys(step.save)) return envelope
  const entries = Object.entries(step.save)
  try {
    for (const [key, field] of entries) {
      const value = readField(envelope, field)
      if (value === undefined) {
        return errorEnvelope(
          step.name,
          `save: the envelope has no field "${field}" for ${key} (its fields: ${Object.keys(envelope).join(', ')})`,
          EXIT_FAILED,
        )
      }
      ctx.set(key, value, { who: step.name })
      if (!envelope.outputs.includes(key)) envelope.outputs.push(key)
    }
    return envelope
  } catch (error) {
    return errorEnvelope(step.name, `save: ${(error as Error).message}`, EXIT_FAILED)
  }
}

/** The files that are a step's code, for its cache key (absolute, or relative to the root). */
export function sourceFilesOf(step: RecipeStep, pythonPath: readonly string[], root: string): string[] {
  if (step.type === 'ts' && step.module) return [step.module]
  if (step.type === 'python' && step.module) {
    const found = pythonModuleFile(step.module, pythonSearchPath(pythonPath, root), root)
    return found ? [found] : []
  }
  const program = stepProgramFile(step)
  return program === undefined ? [] : [program]
}

/** Before and after of each key the step changed (debug logs). */
export function contextDiff(
  writes: readonly ContextWrite[],
): Record<string, { before: JsonValue | null; after: JsonValue }> {
  const diff: Record<string, { before: JsonValue | null; after: JsonValue }> = {}
  for (const write of writes)
    diff[write.key] = { before: diff[write.key]?.before ?? write.before ?? null, after: write.after }
  return diff
}

/** A dotted path into the envelope (`output`, `metrics.count`). */
function readField(envelope: Envelope, field: string): JsonValue | undefined {
  let value: JsonValue | undefined = envelope as unknown as JsonObject
  for (const part of field.split('.')) {
    value = typeof value === 'object' && value !== null && !Array.isArray(value) ? value[part] : undefined
  }
  return value
}

/** Whether `object` has a key of its own (no array of its entries made to find out). */
function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true
  return false
}
