import { createHash } from 'node:crypto'
import type { RecipeIssue } from './errors.ts'
import type { RecipePath } from './source.ts'
import { coerce, givenValue, isVarValue, type VarDeclaration, type VarSources, type VarValue } from './vars.ts'

/**
 * Matrix runs: `matrix: { dut: [rack1-sw1, rack1-sw2] }` runs the recipe once per
 * combination of the listed values of its vars (several keys: every combination of them),
 * as CI matrices do: `exclude:` drops the combinations that match one of its objects,
 * `include:` adds values to the combinations it matches, or adds a combination of its own
 * when it matches none. Each combination is its own run, with those values for its vars.
 */

/** The most combinations one recipe runs: past it, a typo (a long list times another) is more likely than intent. */
export const MAX_MATRIX_COMBINATIONS = 256

/**
 * The longest product of lists gone through to count what `exclude:` leaves of it: past it the
 * matrix is refused as it is (a typo more likely than intent), without going through it.
 */
export const MAX_MATRIX_PRODUCT = 100_000

/** How many combinations run side by side unless `matrix_parallel:` says otherwise. */
export const DEFAULT_MATRIX_PARALLEL = 4

export type Combination = Record<string, VarValue>

export interface MatrixProblem {
  message: string
  path: RecipePath
  /** The problem is the key at `path`, not its value. */
  key?: boolean
  hint?: string
}

export interface RecipeMatrix {
  /** The combinations, in order: the product of the lists (the first key varies slowest), then the included ones. */
  combinations: Combination[]
  /** How many combinations run side by side at most. */
  parallel: number
}

const RESERVED = ['include', 'exclude']

/**
 * The combinations of a recipe's `matrix:` (undefined when it has none), or its problems.
 * `declarations`: the recipe's vars (a matrix key must be one); values take the var's type.
 */
export function expandMatrix(
  raw: unknown,
  parallel: unknown,
  declarations: readonly VarDeclaration[],
): { matrix?: RecipeMatrix; problems: MatrixProblem[]; partial?: Combination } {
  const problems: MatrixProblem[] = []
  if (raw === undefined) return { problems }
  if (!isRecord(raw)) {
    problems.push({
      message: 'matrix must be a mapping of vars to lists of values',
      path: ['matrix'],
      hint: 'Write for example matrix: { dut: [rack1-sw1, rack1-sw2] }.',
    })
    return { problems }
  }
  const types = new Map(declarations.map((declaration) => [declaration.name, declaration]))
  const declared = [...types.keys()]
  const notDeclared = (name: string, path: RecipePath): boolean => {
    if (types.has(name)) return false
    problems.push({
      message: `matrix key "${name}" is not a var of this recipe`,
      path,
      key: true,
      hint: `Declare it under vars: (for example vars: { ${name}: { description: ... } })${declared.length ? `; this recipe's vars: ${declared.join(', ')}` : ''}.`,
    })
    return true
  }
  const typedValue = (name: string, value: unknown, path: RecipePath): VarValue | undefined => {
    const declaration = types.get(name)!
    const typed = isVarValue(value) ? coerce(value, declaration.type) : undefined
    if (typed === undefined)
      problems.push({
        message: `matrix value ${JSON.stringify(value)} of "${name}" is not ${declaration.type === 'string' ? 'a text' : `a ${declaration.type}`}`,
        path,
        hint: `Give ${declaration.type} values, the type of var "${name}".`,
      })
    return typed
  }

  const axes: [string, VarValue[]][] = []
  for (const [name, list] of Object.entries(raw)) {
    if (RESERVED.includes(name)) continue
    if (notDeclared(name, ['matrix', name])) continue
    if (!Array.isArray(list) || list.length === 0) {
      problems.push({
        message: Array.isArray(list)
          ? `matrix "${name}" lists no values: the recipe would run no combination`
          : `matrix "${name}" must be a list of values`,
        path: ['matrix', name],
        hint: `List the values "${name}" takes, for example ${name}: [a, b].`,
      })
      continue
    }
    const values: VarValue[] = []
    list.forEach((item, i) => {
      const value = typedValue(name, item, ['matrix', name, i])
      if (value === undefined) return
      if (values.includes(value))
        problems.push({
          message: `matrix "${name}" lists ${JSON.stringify(value)} twice`,
          path: ['matrix', name, i],
          hint: 'List each value once: each combination runs once.',
        })
      else values.push(value)
    })
    axes.push([name, values])
  }
  const axisNames = new Set(axes.map(([name]) => name))
  // What a refused matrix still gives its vars, so that their uses are not also refused as unset.
  const partial: Combination = {}
  for (const [name, values] of axes) if (values.length > 0) partial[name] = values[0]!
  const objects = (key: 'include' | 'exclude'): [Combination, number][] => {
    const list = raw[key]
    if (list === undefined) return []
    if (!Array.isArray(list)) {
      problems.push({
        message: `matrix ${key} must be a list of objects of var values`,
        path: ['matrix', key],
        hint: `Write for example ${key}: [{ dut: rack1-sw2 }].`,
      })
      return []
    }
    const read: [Combination, number][] = []
    list.forEach((item, i) => {
      if (!isRecord(item) || Object.keys(item).length === 0) {
        problems.push({
          message: `matrix ${key}[${i}] must be an object of var values, such as { dut: rack1-sw2 }`,
          path: ['matrix', key, i],
        })
        return
      }
      const combination: Combination = {}
      let sound = true
      for (const [name, value] of Object.entries(item)) {
        if (notDeclared(name, ['matrix', key, i, name])) {
          sound = false
          continue
        }
        if (key === 'exclude' && !axisNames.has(name)) {
          problems.push({
            message: `matrix exclude[${i}] names "${name}", which the matrix does not list`,
            path: ['matrix', key, i, name],
            key: true,
            hint: `Exclude by the matrix's keys: ${[...axisNames].join(', ') || 'none'}.`,
          })
          sound = false
          continue
        }
        const typed = typedValue(name, value, ['matrix', key, i, name])
        if (typed === undefined) sound = false
        else combination[name] = typed
      }
      if (sound) read.push([combination, i])
    })
    return read
  }
  const excluded = objects('exclude')
  const included = objects('include')
  if (axes.length === 0 && included.length === 0 && problems.length === 0)
    problems.push({
      message: 'matrix lists no vars: the recipe would run no combination',
      path: ['matrix'],
      hint: 'List the values of at least one var, for example matrix: { dut: [rack1-sw1, rack1-sw2] }.',
    })
  if (problems.length > 0) return { problems, partial }

  // The product is gone through (not built: its indices) to count what exclude leaves; only
  // what may run is made. One too large to go through is refused without it.
  const size = axes.reduce((product, [, values]) => product * values.length, 1)
  const hint = `Run at most ${MAX_MATRIX_COMBINATIONS} combinations per recipe: shorten the lists, exclude combinations, or split the recipe.`
  const refuse = (message: string) => {
    problems.push({ message, path: ['matrix'], hint })
    return { problems, partial }
  }
  if (size > MAX_MATRIX_PRODUCT)
    return refuse(
      excluded.length === 0
        ? `matrix makes ${size} combinations, more than ${MAX_MATRIX_COMBINATIONS}`
        : `matrix lists ${size} combinations before exclude, more than ${MAX_MATRIX_PRODUCT}: exclude cannot bring so many under ${MAX_MATRIX_COMBINATIONS}`,
    )
  // Each exclude object as the value index it asks of each axis; one naming a value the axis does not list matches nothing.
  const excludes = excluded.flatMap(([object]) => {
    const wanted: [number, number][] = []
    for (const [name, value] of Object.entries(object)) {
      const axis = axes.findIndex(([axisName]) => axisName === name)
      const index = axes[axis]![1].indexOf(value)
      if (index === -1) return []
      wanted.push([axis, index])
    }
    return [wanted]
  })
  const combinations: Combination[] = []
  let kept = 0
  if (axes.length > 0 && size > 0) {
    // An odometer over the value indices, the last key turning fastest (the first varies slowest).
    const digits = axes.map(() => 0)
    for (let n = 0; n < size; n++) {
      if (!excludes.some((wanted) => wanted.every(([axis, index]) => digits[axis] === index))) {
        kept++
        if (combinations.length <= MAX_MATRIX_COMBINATIONS)
          combinations.push(Object.fromEntries(axes.map(([name, values], axis) => [name, values[digits[axis]!]!])))
      }
      for (let axis = axes.length - 1; axis >= 0; axis--) {
        digits[axis] = digits[axis]! + 1
        if (digits[axis]! < axes[axis]![1].length) break
        digits[axis] = 0
      }
    }
  }
  if (kept > MAX_MATRIX_COMBINATIONS)
    return refuse(
      `matrix makes ${kept} combinations, more than ${MAX_MATRIX_COMBINATIONS}${kept < size ? ` (${size} listed, ${size - kept} excluded)` : ''}`,
    )
  const matches = (combination: Combination, object: Combination, only?: Set<string>) =>
    Object.entries(object).every(([name, value]) => (only && !only.has(name)) || combination[name] === value)
  // As CI matrices: an include object adds its other values to each combination whose matrix values it
  // matches (never changing one); one that matches none is a combination of its own.
  const originals = combinations.map((combination) => ({ ...combination }))
  for (const [object] of included) {
    let merged = false
    originals.forEach((original, i) => {
      if (!matches(original, object, axisNames)) return
      merged = true
      Object.assign(combinations[i]!, object)
    })
    if (!merged && !combinations.some((combination) => matches(combination, object))) combinations.push({ ...object })
  }
  if (combinations.length > MAX_MATRIX_COMBINATIONS)
    return refuse(`matrix makes ${combinations.length} combinations, more than ${MAX_MATRIX_COMBINATIONS}`)
  if (combinations.length === 0) {
    problems.push({
      message: 'matrix exclude leaves no combination to run',
      path: ['matrix', 'exclude'],
      hint: 'Exclude fewer combinations, or remove the matrix.',
    })
    return { problems, partial }
  }
  return {
    matrix: {
      combinations,
      // Its value is checked by the schema.
      parallel:
        typeof parallel === 'number' && Number.isInteger(parallel) && parallel >= 1
          ? parallel
          : DEFAULT_MATRIX_PARALLEL,
    },
    problems,
  }
}

/** What a name made of values shows of a secret: see createRedactor (runtime/redact.ts). */
export type Mask = (text: string) => string

const unmasked: Mask = (text) => text

/**
 * The name of a combination's group of tests: its values, `dut=rack1-sw2, speed=10`, on one
 * line (a newline or another control character is written escaped, `\n`), a secret value
 * masked by `mask`: the name is a test name, which Vitest prints, lists and reports.
 */
export function combinationLabel(combination: Combination, mask: Mask = unmasked): string {
  return mask(
    Object.entries(combination)
      .map(([name, value]) => `${name}=${oneLine(mask(String(value)))}`)
      .join(', '),
  )
}

/**
 * The names of a matrix's groups of tests (combinationLabel), one per combination and no two
 * alike: values a label cannot tell apart (secrets masked alike, a value holding `, b=`) get
 * ` #2`, ` #3`... in matrix order, so each group stays its own in Vitest, `-t` and the summary.
 */
export function combinationLabels(combinations: readonly Combination[], mask: Mask = unmasked): string[] {
  return distinct(
    combinations.map((combination) => combinationLabel(combination, mask)),
    (label, n) => `${label} #${n}`,
  )
}

/** The longest part of a run id its combination's values make (before the hash, when one is added). */
const RUN_NAME_MAX = 60

/**
 * The part of each combination's run id (and so of its log and report folders) that names it:
 * `dut_rack1-sw2_speed_10`, only letters, digits, `.`, `-` and `_`. When that is not the values
 * exactly (a character dropped, a long value cut, a secret masked, a `_` inside a value, which
 * reads as a separator), a hash of the values follows, `dut_caf_-1c9e3a`: two combinations
 * never share a run id, a log folder or a report folder, however much their readable names
 * lose. The hash is of the masked values: two combinations told apart only by secrets
 * (or a hash that repeats) are numbered in matrix order instead.
 */
export function combinationRunNames(combinations: readonly Combination[], mask: Mask = unmasked): string[] {
  const names = combinations.map((combination) => {
    const entries = Object.entries(combination).map(([name, value]) => [name, String(value)] as const)
    const masked = entries.map(([name, value]) => [name, mask(value)] as const)
    const text = masked.map(([name, value]) => `${name}_${value}`).join('_')
    const safe = text.replace(/[^A-Za-z0-9_.-]+/g, '_')
    const exact =
      safe === text &&
      safe.length <= RUN_NAME_MAX &&
      entries.every(([, value], i) => masked[i]![1] === value && !value.includes('_'))
    if (exact) return safe
    return `${safe.slice(0, RUN_NAME_MAX)}-${createHash('sha256').update(JSON.stringify(masked)).digest('hex').slice(0, 6)}`
  })
  // Names alike (masked values; keys with `_`, `a_b: c` against `a: b_c`, hash only then): numbered, each one.
  const counts = new Map<string, number>()
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1)
  return names.map((name, i) => (counts.get(name)! > 1 ? `${name}-${i + 1}` : name))
}

/** Each text once: a repeated one made distinct by `rename(text, n)` for its n-th occurrence (n >= 2). */
function distinct(texts: readonly string[], rename: (text: string, n: number) => string): string[] {
  const taken = new Set(texts)
  const seen = new Map<string, number>()
  return texts.map((text) => {
    const n = (seen.get(text) ?? 0) + 1
    seen.set(text, n)
    if (n === 1) return text
    let k = n
    while (taken.has(rename(text, k))) k++
    const renamed = rename(text, k)
    taken.add(renamed)
    return renamed
  })
}

/** A value as one line: a control character (a newline, a tab, NUL, a line separator) written escaped, `\n`, `\u0000`. */
function oneLine(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (char) => named[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/**
 * The problems of a matrix recipe's combinations as one list: a problem every combination
 * has (the same message at the same place) is the recipe's own, said once; any other is said
 * for each combination that has it, naming the combination.
 */
export function combinationIssues(
  checked: readonly { combination: Combination | undefined; issues: readonly RecipeIssue[] }[],
): RecipeIssue[] {
  if (checked.length === 1) return [...checked[0]!.issues]
  const keyOf = (issue: RecipeIssue) =>
    JSON.stringify([issue.code, issue.path, issue.message, issue.location?.line, issue.location?.column])
  const counts = new Map<string, number>()
  for (const { issues } of checked)
    for (const key of new Set(issues.map(keyOf))) counts.set(key, (counts.get(key) ?? 0) + 1)
  const said = new Set<string>()
  const out: RecipeIssue[] = []
  for (const { combination, issues } of checked)
    for (const issue of issues) {
      const key = keyOf(issue)
      if (counts.get(key) === checked.length || combination === undefined) {
        // Said once for all.
        if (!said.has(key)) out.push(issue)
        said.add(key)
      } else out.push({ ...issue, message: `${issue.message} (combination ${combinationLabel(combination)})` })
    }
  return out
}

/**
 * A value given from outside (--var, RECIPES_VAR_*, the plugin option) for a var the matrix
 * sets is not used: said, with how to run one combination instead.
 */
export function unusedGivenVars(
  recipe: { file: string; matrix?: RecipeMatrix | undefined },
  sources: VarSources,
): string[] {
  const combinations = recipe.matrix?.combinations ?? []
  const names = [...new Set(combinations.flatMap((combination) => Object.keys(combination)))]
  return names.flatMap((name) => {
    const given = givenValue(name, { ...sources, matrix: {} })
    if (!given) return []
    const first = combinations.find((combination) => combination[name] !== undefined)![name]!
    return [
      `${recipe.file}: ${given.where} is not used: the matrix gives ${name} its values; run one combination with -t "${name}=${String(first)}"`,
    ]
  })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
