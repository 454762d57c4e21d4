import { Ajv } from 'ajv'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { parse } from 'yaml'
import { recipeJsonSchema } from '../../plugin/recipe/json-schema.ts'
import { REPO } from '../e2e/project.ts'

test('schema/recipe.schema.json is the JSON Schema generated from the zod schema (run `npm run schema` after changing it)', () => {
  const committed = JSON.parse(readFileSync(join(REPO, 'schema/recipe.schema.json'), 'utf8')) as unknown
  expect(committed).toEqual(recipeJsonSchema())
})

test('the schema knows every step key, older dialects included', () => {
  const schema = recipeJsonSchema() as {
    properties: { steps: { items: { properties: Record<string, unknown>; additionalProperties: boolean } } }
  }
  const step = schema.properties.steps.items
  expect(Object.keys(step.properties)).toEqual(
    expect.arrayContaining(['function', 'class', 'args', 'params', 'cmd', 'script', 'depends_on', 'success', 'expect']),
  )
  expect(step.additionalProperties).toBe(false)
})

test("an editor checking with the schema takes the older framework's yes/no/on/off where the recipe does, and nowhere else", () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(recipeJsonSchema())
  const recipe = (settings: string) =>
    parse(
      `parallel: yes\nstep_metrics: YES\nsteps:\n  - { name: a, type: exec, cmd: [echo], ${settings} }\n`,
    ) as unknown
  for (const settings of ['parallel: no', 'requires_process: On', 'cache: off'])
    expect(validate(recipe(settings)), `${settings}: ${JSON.stringify(validate.errors)}`).toBe(true)
  // The recipe refuses other words, and so does the schema.
  expect(validate(recipe('parallel: maybe'))).toBe(false)
  expect(validate(recipe('parallel: "y"'))).toBe(false)
})
