import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { expect } from 'vitest'
import type { Ajv } from 'ajv'
import type { Context } from '../context/context.ts'
import type { SourceLocation } from '../recipe/errors.ts'
import type { RecipeStep, SuccessCheckName } from '../recipe/types.ts'
import type { OkEnvelope } from '../scriptlet/envelope.ts'

/**
 * Turns the step's `success:` checks into assertions. Each message names the check and its
 * place in the recipe, so a failure reads `success.ctx_has_keys (recipes/x.yaml:14:7): ...`.
 */
export async function assertSuccessChecks(
  step: RecipeStep,
  ctx: Context,
  envelope: OkEnvelope,
  root: string,
): Promise<void> {
  const label = (check: SuccessCheckName, detail: string) =>
    `${checkLabel(check, step.locations.checks[check])}: ${detail}`
  const { ctx_has_keys, files_exist, ctx_equals, ctx_matches, outputs } = step.success
  if (ctx_has_keys) {
    const missing = ctx_has_keys.filter((key) => !ctx.has(key))
    expect(missing, label('ctx_has_keys', `step "${step.name}" left these keys missing from ctx`)).toEqual([])
  }
  if (files_exist) {
    const missing = files_exist.filter((file) => !existsSync(resolve(root, file)))
    expect(missing, label('files_exist', `these files do not exist after step "${step.name}"`)).toEqual([])
  }
  for (const [key, expected] of Object.entries(ctx_equals ?? {})) {
    expect(ctx.get(key), label('ctx_equals', `ctx "${key}" differs from the expected value`)).toEqual(expected)
  }
  for (const [key, schema] of Object.entries(ctx_matches ?? {})) {
    const validate = (await jsonSchemaValidator()).compile(schema)
    const problems = !ctx.has(key)
      ? [`${key} is missing`]
      : validate(ctx.get(key))
        ? []
        : (validate.errors ?? []).map(
            (error) => `${key}${error.instancePath.replaceAll('/', '.')} ${error.message ?? 'is invalid'}`,
          )
    expect(
      problems,
      label('ctx_matches', `ctx "${key}" does not match its JSON Schema (${problems.join('; ')})`),
    ).toEqual([])
  }
  if (outputs) {
    const missing = outputs.filter((key) => !envelope.outputs.includes(key))
    expect(
      missing,
      label(
        'outputs',
        `the envelope of step "${step.name}" does not list these outputs (it lists: ${envelope.outputs.join(', ') || 'none'})`,
      ),
    ).toEqual([])
  }
}

let ajv: Ajv | undefined
async function jsonSchemaValidator(): Promise<Ajv> {
  // Loaded on first use: most recipes have no ctx_matches. One instance per worker caches compiled schemas.
  if (!ajv) {
    const { Ajv } = await import('ajv')
    ajv = new Ajv({ allErrors: true, strict: false })
  }
  return ajv
}

function checkLabel(check: string, location: SourceLocation | undefined): string {
  return location ? `success.${check} (${location.file}:${location.line}:${location.column})` : `success.${check}`
}
