/**
 * NAME:    generate_report
 * DESC:    Fills a Markdown template with values from ctx and writes the report under
 *          the project root. A placeholder `{{ key }}` names a ctx key, or a path into a
 *          ctx value: the longest ctx key that prefixes the path, then property access
 *          (`{{ metrics.summary_v2.mean }}`, `{{ numbers.raw_v1.0 }}`). Built-ins:
 *          `{{ run.step }}` (the step's name), `{{ run.generated_at }}` (ISO-8601, now).
 *          Rendering: strings and numbers as they are; an object or array alone on its
 *          line becomes a Markdown table (an object of scalars: key | value; a list of
 *          objects of scalars: one row each) or else a fenced JSON block; inside a line of
 *          text it becomes inline `JSON`. Plain string replacement: no shell, no eval.
 * PARAMS:  template (string, default templates/report_template.md): path relative to the root
 *          out (string, default Data/report.md): report path relative to the root
 *          missing ('error' | 'blank', default 'error'): a placeholder absent from ctx
 *          fails the step, or renders as nothing (with a warning)
 * INPUTS:  whatever keys the template names (the default template: numbers.raw_v1,
 *          numbers.validated_v1, metrics.summary_v1, metrics.summary_v2)
 * OUTPUTS: report.path_v1 (string: the report's path relative to the root)
 * ARTIFACTS: Data/report.md (generated; ignored by Data/.gitignore)
 * ERRORS:  exit 3 when `template` or `out` leads outside the project root, the template is
 *          missing, or a `{{ ... }}` is not a valid placeholder (file:line in the reason);
 *          exit 2 when a placeholder names a key absent from ctx (missing: 'error'), e.g.
 *          `templates/report_template.md:7: {{ metrics.summary_v2 }} is not in ctx`.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path'
import { z } from 'zod'
import {
  defineScriptlet,
  EXIT_DEPENDENCY,
  EXIT_INVALID,
  ScriptletError,
  type JsonValue,
  type ScriptletContext,
} from 'vitest-recipes/scriptlet'

/** Any `{{ ... }}`; what is inside must then be a dotted name. */
const PLACEHOLDER = /\{\{(.*?)\}\}/g
const NAME = /^[A-Za-z_][\w-]*(\.[\w-]+)*$/

type Found = { found: true; value: JsonValue } | { found: false; why: string }

export default defineScriptlet({
  name: 'generate_report',
  params: z.object({
    template: z.string().min(1).default('templates/report_template.md'),
    out: z.string().min(1).default('Data/report.md'),
    missing: z.enum(['error', 'blank']).default('error'),
  }),
  outputs: ['report.path_v1'],
  run(ctx, { template, out, missing }, { step, root, log }) {
    const templatePath = insideRoot(root, 'template', template, 'templates/report_template.md')
    const outPath = insideRoot(root, 'out', out, 'Data/report.md')
    if (outPath === templatePath) {
      throw new ScriptletError(
        `param "out": ${out} is the template itself; write the report elsewhere, such as Data/report.md`,
        {
          exitCode: EXIT_INVALID,
          details: { param: 'out', out, template },
        },
      )
    }
    if (!existsSync(templatePath) || !statSync(templatePath).isFile()) {
      throw new ScriptletError(
        `param "template": template file not found: ${template} (create it, or point "template" at an existing file under the project root)`,
        {
          exitCode: EXIT_INVALID,
          details: { param: 'template', template, resolved: templatePath },
        },
      )
    }

    const builtins: Record<string, JsonValue> = { 'run.step': step, 'run.generated_at': new Date().toISOString() }
    const absent: string[] = []
    const invalid: string[] = []
    let placeholders = 0
    const lines = readFileSync(templatePath, 'utf8').split('\n')
    const rendered = lines.map((line, index) => {
      const where = `${template}:${index + 1}`
      const alone = /^\s*\{\{[^{}]*\}\}\s*$/.test(line)
      return line.replace(PLACEHOLDER, (match, inner: string) => {
        const name = inner.trim()
        if (!NAME.test(name)) {
          invalid.push(`${where}: ${match} is not a placeholder (write {{ namespace.key_vN }}, a dotted ctx key)`)
          return match
        }
        placeholders += 1
        const lookup = Object.hasOwn(builtins, name)
          ? { found: true as const, value: builtins[name]! }
          : lookUp(ctx, name)
        if (!lookup.found) {
          absent.push(`${where}: {{ ${name} }} ${lookup.why}`)
          return ''
        }
        return alone ? renderBlock(lookup.value) : renderInline(lookup.value)
      })
    })

    if (invalid.length > 0) {
      throw new ScriptletError(
        invalid.length === 1
          ? invalid[0]!
          : `${invalid.length} invalid placeholders: ${invalid.slice(0, 3).join('; ')}`,
        {
          exitCode: EXIT_INVALID,
          details: { template, invalid },
        },
      )
    }
    if (absent.length > 0 && missing === 'error') {
      const first = absent.slice(0, 3).join('; ')
      throw new ScriptletError(
        `${absent.length === 1 ? first : `${absent.length} placeholders are not in ctx: ${first}`} (run the step that writes it first, or set missing: blank)`,
        {
          exitCode: EXIT_DEPENDENCY,
          details: { template, missing: absent },
        },
      )
    }

    const text = rendered.join('\n')
    mkdirSync(dirname(outPath), { recursive: true })
    writeFileSync(outPath, text)
    const relOut = relative(realRoot(root), outPath).split(sep).join('/')
    ctx.set('report.path_v1', relOut, { who: step })
    log(`${step}: wrote ${relOut} from ${template} (${placeholders} placeholders)`)
    return {
      artifacts: [relOut],
      metrics: { placeholders, bytes: Buffer.byteLength(text) },
      warnings: absent.map((line) => `${line}: rendered blank`),
    }
  },
})

function realRoot(root: string): string {
  return realpathSync(resolve(root))
}

/**
 * The absolute path of `value`, refusing anything outside the root: `..` escapes, absolute
 * paths elsewhere, and symlinks (of the file or of its nearest existing folder) leading out.
 */
function insideRoot(root: string, param: string, value: string, example: string): string {
  const base = realRoot(root)
  const refuse = (why: string) =>
    new ScriptletError(
      `param "${param}": ${JSON.stringify(value)} ${why}; use a path inside the project root, relative to it, such as ${example}`,
      {
        exitCode: EXIT_INVALID,
        details: { param, value, root: base },
      },
    )
  const outside = (path: string) => {
    const rel = relative(base, path)
    return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)
  }
  const path = resolve(base, value)
  if (outside(path)) throw refuse('leads outside the project root')
  let existing = path
  while (!existsSync(existing)) existing = dirname(existing)
  if (outside(realpathSync(existing)) && realpathSync(existing) !== base)
    throw refuse('leads outside the project root through a symlink')
  return path
}

/** `a.b.c.d`: the longest ctx key among `a.b.c.d`, `a.b.c`, `a.b`, `a`, then `.rest` into its value. */
function lookUp(ctx: ScriptletContext, name: string): Found {
  const parts = name.split('.')
  for (let cut = parts.length; cut > 0; cut -= 1) {
    const key = parts.slice(0, cut).join('.')
    if (!ctx.has(key)) continue
    let value = ctx.get(key) as JsonValue
    for (const [i, part] of parts.slice(cut).entries()) {
      const at = [key, ...parts.slice(cut, cut + i)].join('.')
      if (Array.isArray(value) && /^\d+$/.test(part) && Number(part) < value.length) value = value[Number(part)]!
      else if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, part))
        value = value[part]!
      else return { found: false, why: `is not in ctx (${at} has no "${part}")` }
    }
    return { found: true, value }
  }
  return { found: false, why: 'is not in ctx' }
}

const isScalar = (value: JsonValue): value is string | number | boolean | null =>
  value === null || typeof value !== 'object'
const isRecord = (value: JsonValue): value is { [key: string]: JsonValue } =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

function scalar(value: string | number | boolean | null): string {
  return value === null ? 'null' : String(value)
}

function renderInline(value: JsonValue): string {
  return isScalar(value) ? scalar(value) : `\`${JSON.stringify(value)}\``
}

function renderBlock(value: JsonValue): string {
  if (isScalar(value)) return scalar(value)
  const cell = (v: JsonValue) =>
    (isScalar(v) ? scalar(v) : JSON.stringify(v)).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
  const table = (header: string[], rows: JsonValue[][]) =>
    [
      `| ${header.map((h) => cell(h)).join(' | ')} |`,
      `| ${header.map(() => '---').join(' | ')} |`,
      ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    ].join('\n')
  if (isRecord(value) && Object.keys(value).length > 0 && Object.values(value).every(isScalar)) {
    return table(['key', 'value'], Object.entries(value))
  }
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((row) => isRecord(row) && Object.values(row).every(isScalar))
  ) {
    const rows = value as { [key: string]: JsonValue }[]
    const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))]
    return table(
      columns,
      rows.map((row) => columns.map((column) => (Object.hasOwn(row, column) ? row[column]! : ''))),
    )
  }
  // A list of scalars stays on one line; anything nested is pretty-printed.
  const json = Array.isArray(value) && value.every(isScalar) ? JSON.stringify(value) : JSON.stringify(value, null, 2)
  return ['```json', json, '```'].join('\n')
}
