import { readFileSync } from 'node:fs'
import { relative, sep } from 'node:path'
import { z } from 'zod'
import { DEFAULT_PYTHON_PATH } from '../compile/options.ts'
import type { DeclaredParam } from '../recipe/declarations.ts'
import { headerDeclaration } from '../recipe/header-declarations.ts'
import { recipeJsonSchema } from '../recipe/json-schema.ts'
import { objectKeys } from '../recipe/params-check.ts'
import { projectPath } from '../recipe/project-path.ts'
import { pythonSearchPath } from '../recipe/python-module.ts'
import { resolveScriptlet } from '../scriptlet/invoke.ts'
import { startLoader } from './preflight.ts'
import type { Project } from './project.ts'
import { listScriptletFiles } from './scriptlet-files.ts'

type JsonSchema = Record<string, unknown>

/** One scriptlet's args, as an editor should complete and check them. */
interface ScriptletArgs {
  /** When a step runs this scriptlet: its `module`/`class`/`function` or `cmd`/`script`. */
  when: JsonSchema
  args: JsonSchema
}

/**
 * The recipe JSON Schema of this project: the shipped one, plus, for every scriptlet under
 * `scriptletsDir` that declares its parameters (a zod `params` schema, a header PARAMS
 * block), the args a step running it takes (`if` the step names it, `then` its args), so a
 * YAML editor completes and checks them. Also the list of scriptlets that declare none.
 */
export async function projectRecipeSchema(
  project: Project,
  scriptletsDir: string,
): Promise<{ schema: JsonSchema; described: string[]; undeclared: string[] }> {
  const files = listScriptletFiles(scriptletsDir)
  const found: ScriptletArgs[] = []
  const described: string[] = []
  const undeclared: string[] = []
  const pythonPath = pythonSearchPath(project.options.python?.path ?? DEFAULT_PYTHON_PATH, project.root)
  const typescript = files.filter((file) => /\.(ts|js|mjs)$/.test(file) && !file.split(sep).includes('lib'))
  const loader = typescript.length > 0 ? await startLoader(project.root) : undefined
  try {
    for (const file of files) {
      const path = projectPath(project.root, file)
      const before = found.length
      if (typescript.includes(file)) found.push(...(await typescriptArgs(await loader!.load(file), path)))
      else if (file.endsWith('.py')) found.push(...pythonArgs(file, path, pythonPath))
      else if (file.endsWith('.sh') && !file.split(sep).includes('lib')) found.push(...shellArgs(file, path))
      else continue
      if (found.length > before) described.push(path)
      else if (!isHelper(path)) undeclared.push(path)
    }
  } finally {
    await loader?.close()
  }
  const schema = recipeJsonSchema()
  const steps = (schema.properties as Record<string, JsonSchema>).steps!
  const items = steps.items as JsonSchema
  if (found.length > 0)
    items.allOf = found.map(({ when, args }) => ({
      if: when,
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, never awaited
      then: { properties: { args, params: args } },
    }))
  schema.title = 'vitest-recipes recipe (with this project’s scriptlet args)'
  delete schema.$id
  return { schema, described, undeclared }
}

/** Package markers and shared code, not scriptlets a step runs. */
function isHelper(path: string): boolean {
  const parts = path.split('/')
  return parts.at(-1) === '__init__.py' || parts.includes('lib') || parts.includes('core')
}

async function typescriptArgs(loaded: Record<string, unknown> | string, path: string): Promise<ScriptletArgs[]> {
  if (typeof loaded === 'string') return []
  const out: ScriptletArgs[] = []
  for (const name of Object.keys(loaded)) {
    const scriptlet = resolveScriptlet(loaded, name === 'default' ? undefined : name)
    if (typeof scriptlet === 'string' || scriptlet.paramsSchema === undefined) continue
    const args = zodArgs(scriptlet.paramsSchema)
    if (!args) continue
    const named = (key: 'class' | 'function'): ScriptletArgs => ({
      when: { properties: { module: { const: path }, [key]: { const: name } }, required: ['module', key] },
      args,
    })
    if (name === 'default')
      out.push({
        when: {
          properties: { module: { const: path } },
          required: ['module'],
          not: { anyOf: [{ required: ['class'] }, { required: ['function'] }] },
        },
        args,
      })
    else out.push(named('class'), named('function'))
  }
  return out
}

/** The JSON Schema of a zod params schema as the step writes it (input); unknown keys refused as the check refuses them. */
function zodArgs(schema: unknown): JsonSchema | undefined {
  try {
    const json = z.toJSONSchema(schema as z.ZodType, { io: 'input', target: 'draft-7', unrepresentable: 'any' })
    delete json.$schema
    if (objectKeys(schema as never) && json.type === 'object') json.additionalProperties = false
    return json
  } catch {
    // Another zod (3, or a copy of 4 this one cannot read): no completion for it.
    return undefined
  }
}

function pythonArgs(file: string, path: string, pythonPath: readonly string[]): ScriptletArgs[] {
  const declaration = headerDeclaration(readFileSync(file, 'utf8'), path, 'python')
  if (!declaration.params) return []
  const args = headerArgs(declaration.params, false)
  const modules = pythonPath
    .filter((folder) => !relative(folder, file).startsWith('..'))
    .map((folder) =>
      relative(folder, file)
        .replace(/\.py$/, '')
        .replace(/[\\/]__init__$/, '')
        .split(/[\\/]/)
        .join('.'),
    )
  return [
    ...modules.map((module) => ({ when: { properties: { module: { const: module } }, required: ['module'] }, args })),
    ...scriptArgs(path, args),
  ]
}

function shellArgs(file: string, path: string): ScriptletArgs[] {
  const declaration = headerDeclaration(readFileSync(file, 'utf8'), path, 'shell')
  return declaration.params ? scriptArgs(path, headerArgs(declaration.params, true)) : []
}

function scriptArgs(path: string, args: JsonSchema): ScriptletArgs[] {
  return (['cmd', 'script'] as const).map((key) => ({
    when: { properties: { [key]: { const: path } }, required: [key] },
    args,
  }))
}

/** Header params as JSON Schema; shell args arrive as text, so a number may also be written as text. */
function headerArgs(params: readonly DeclaredParam[], asText: boolean): JsonSchema {
  const properties: Record<string, JsonSchema> = {}
  for (const param of params) {
    const type = param.type === 'any' ? undefined : param.type
    const property: JsonSchema = {}
    if (type)
      property.type = asText && type !== 'string' && type !== 'array' && type !== 'object' ? [type, 'string'] : type
    if (param.description) property.description = param.description
    if (param.default !== undefined) property.default = param.default
    properties[param.name] = property
  }
  const required = params.filter((param) => param.required).map((param) => param.name)
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false }
}
