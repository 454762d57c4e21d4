import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { assert, expect } from 'vitest'
import type { Ajv, ErrorObject } from 'ajv'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { Context } from '../context/context.ts'
import type { SourceLocation } from '../recipe/errors.ts'
import type { RecipeStep, SuccessCheckName } from '../recipe/types.ts'
import type { OkEnvelope } from '../scriptlet/envelope.ts'
import type { Redactor } from './redact.ts'

/**
 * Turns the step's `success:` checks into assertions. Each message names the check and its
 * place in the recipe, so a failure reads `success.ctx_has_keys (recipes/x.yaml:14:7): ...`.
 */
/** What masks secrets in the values a failed check quotes (the run's `Redactor`). */
export type ValueRedactor = Pick<Redactor, 'json'>

export async function assertSuccessChecks(
  step: RecipeStep,
  ctx: Context,
  envelope: OkEnvelope,
  root: string,
  redactor?: ValueRedactor,
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
    const problem = await schemaMismatch(key, schema, ctx, redactor)
    if (problem !== undefined) assert.fail(label('ctx_matches', problem))
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

/** Longest JSON text of a value a failure message shows, whole and at each failing spot. */
const SHOWN_VALUE_CHARS = 240
const SHOWN_SPOT_CHARS = 80

/** How many failing rules a message names (ajv reports them all). */
const SHOWN_ERRORS = 5

/**
 * Why ctx `key` does not match `schema`, or undefined when it does: each failing rule with
 * where it sits in the schema and the value it saw, then the whole value (shortened). One
 * line, no diff: every reporter shows it, the run store keeps it as the step's reason, and
 * the run's redaction masks secrets in it as in any failure.
 */
async function schemaMismatch(
  key: string,
  schema: JsonObject,
  ctx: Context,
  redactor: ValueRedactor | undefined,
): Promise<string | undefined> {
  if (!ctx.has(key)) return `ctx "${key}" does not match its JSON Schema: ${key} is missing`
  const validate = (await jsonSchemaValidator()).compile(schema)
  const raw = ctx.get(key) as JsonValue
  if (validate(raw)) return undefined
  // Masked before anything is cut: a secret cut in two would no longer be recognised.
  const value = redactor ? redactor.json(raw) : raw
  const errors = validate.errors ?? []
  const described = errors.slice(0, SHOWN_ERRORS).map((error) => describeSchemaError(key, error, schema, value))
  if (errors.length > SHOWN_ERRORS) described.push(`and ${errors.length - SHOWN_ERRORS} more`)
  return `ctx "${key}" does not match its JSON Schema: ${described.join('; ')}; value of ${key}: ${shortJson(value, SHOWN_VALUE_CHARS)}`
}

/** `dut.ports_v1.up must be >= 40 (rule: minimum: 40 at #/properties/up/minimum); it is 12` */
function describeSchemaError(key: string, error: ErrorObject, schema: JsonObject, value: JsonValue): string {
  const spot = `${key}${error.instancePath.replaceAll('/', '.')}`
  const rule = schemaAt(schema, error.schemaPath)
  const ruleText = `${error.keyword}: ${rule === undefined ? '?' : shortJson(rule, SHOWN_SPOT_CHARS)}`
  // At the top the whole value follows anyway.
  const seen = error.instancePath === '' ? undefined : valueAt(value, error.instancePath)
  const actual = seen === undefined ? '' : `; it is ${shortJson(seen, SHOWN_SPOT_CHARS)}`
  return `${spot} ${error.message ?? 'is invalid'} (rule: ${ruleText} at ${error.schemaPath})${actual}`
}

/** The JSON text of `value`, cut at `max` characters with how long it is in all. */
function shortJson(value: JsonValue, max: number): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters in all)`
}

/** The value at a JSON Pointer (`/up/0`), or undefined; `uri`: the pointer is a URI fragment (ajv's schemaPath). */
function valueAt(value: JsonValue, pointer: string, uri = false): JsonValue | undefined {
  let current: JsonValue | undefined = value
  for (const segment of pointerSegments(pointer, uri)) {
    if (current === null || typeof current !== 'object') return undefined
    current = Array.isArray(current) ? current[Number(segment)] : current[segment]
  }
  return current
}

/** The part of the schema a rule sits at (`#/properties/up/minimum`), or undefined (a `$ref` elsewhere). */
function schemaAt(schema: JsonObject, schemaPath: string): JsonValue | undefined {
  if (!schemaPath.startsWith('#')) return undefined
  try {
    return valueAt(schema, schemaPath.slice(1), true)
  } catch {
    return undefined
  }
}

function pointerSegments(pointer: string, uri: boolean): string[] {
  if (pointer === '') return []
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => (uri ? decodeURIComponent(segment) : segment).replaceAll('~1', '/').replaceAll('~0', '~'))
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
