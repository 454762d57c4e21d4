import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node, type YAMLMap } from 'yaml'

// The older framework read recipes with PyYAML (YAML 1.1), where a plain yes/no/on/off is a
// boolean; YAML 1.2, which reads recipes here, keeps them as text.

/** The recipe's own boolean settings (top level, and each step's). */
export const BOOLEAN_SETTINGS: ReadonlySet<string> = new Set(['parallel', 'step_metrics', 'requires_process', 'cache'])
/** The words PyYAML (YAML 1.1), which read the older framework's recipes, takes as booleans; YAML 1.2 reads strings. */
export const PYYAML_BOOLEAN_WORDS = [
  'yes',
  'Yes',
  'YES',
  'on',
  'On',
  'ON',
  'no',
  'No',
  'NO',
  'off',
  'Off',
  'OFF',
] as const
const PYYAML_BOOLEAN = new RegExp(`^(?:${PYYAML_BOOLEAN_WORDS.join('|')})$`)

/**
 * Reads `parallel: yes`, `requires_process: on`, ... as the older framework read them
 * (PyYAML): booleans. Only the recipe's boolean settings, written plain (a quoted "yes" is a
 * string there too), in the top-level mapping, the steps and the mappings they merge in
 * (`<<: *defaults`); args are the scriptlet's and are left as YAML 1.2 reads them.
 */
export function readPyYamlBooleans(doc: Document): void {
  const top = doc.contents
  if (!isMap(top)) return
  const maps = new Set<YAMLMap>()
  const add = (node: unknown) => {
    const map = isAlias(node) ? node.resolve(doc) : node
    if (!isMap(map) || maps.has(map)) return
    maps.add(map)
    for (const pair of map.items) {
      if (!isScalar(pair.key) || pair.key.source !== '<<') continue
      for (const source of isSeq(pair.value) ? pair.value.items : [pair.value]) add(source)
    }
  }
  add(top)
  const steps = top.get('steps', true)
  if (isSeq(steps)) for (const step of steps.items) add(step)
  for (const map of maps)
    for (const pair of map.items) {
      const value = pair.value
      if (!isScalar(pair.key) || !BOOLEAN_SETTINGS.has(String(pair.key.value)) || !isScalar(value)) continue
      if (value.type === 'PLAIN' && typeof value.value === 'string' && PYYAML_BOOLEAN.test(value.value))
        value.value = /^(?:yes|on)$/i.test(value.value)
    }
}

/** Where args are written in a step: the older framework's `params:` too. */
const ARGS_KEYS = ['args', 'params']

/**
 * A warning for each plain (unquoted) yes/no/on/off in a step's args (`doc` read with `lines`):
 * YAML 1.2 gives the scriptlet the text, where the older framework (PyYAML) gave it a boolean,
 * so a recipe written for it can turn `verbose: no` into a truthy "no" without a word. Not
 * changed (a recipe written here may mean the text): said, at its line and column, with both
 * readings.
 */
export function pyYamlBooleanWarnings(doc: Document, lines: LineCounter, file: string): string[] {
  if (doc.errors.length > 0 || !isMap(doc.contents)) return []
  const steps = doc.contents.get('steps', true)
  if (!isSeq(steps)) return []
  const warnings: string[] = []
  const resolve = (node: unknown) => (isAlias(node) ? node.resolve(doc) : node)
  /** Each plain PyYAML boolean under `node` (aliases followed once), with its path. */
  const walk = (node: unknown, path: string, step: string, seen: Set<unknown>) => {
    const value = resolve(node)
    if (seen.has(value)) return
    seen.add(value)
    if (isScalar(value)) {
      if (value.type === 'PLAIN' && typeof value.value === 'string' && PYYAML_BOOLEAN.test(value.value)) {
        const at = lines.linePos(value.range?.[0] ?? 0)
        const reading = /^(?:yes|on)$/i.test(value.value)
        warnings.push(
          `${file}:${at.line}:${at.col} RECIPE_YAML_BOOLEAN warning: ${path} of step "${step}" is the text "${value.value}"; the older framework (PyYAML) read it as ${reading}. Write ${reading}, or "${value.value}" in quotes, to say which.`,
        )
      }
      return
    }
    if (isSeq(value)) for (const [i, item] of value.items.entries()) walk(item, `${path}[${i}]`, step, seen)
    if (isMap(value))
      for (const pair of value.items)
        if (isScalar(pair.key)) walk(pair.value, `${path}.${String(pair.key.value)}`, step, seen)
  }
  for (const item of steps.items) {
    const stepMap = resolve(item)
    if (!isMap(stepMap)) continue
    const name = String(stepMap.get('name') ?? '?')
    // Args a step merges in (`<<: *defaults`) count too; its own win, as the merge reads them.
    const maps = [stepMap, ...mergedMaps(stepMap, resolve)]
    for (const key of ARGS_KEYS) {
      const args = maps.find((map) => map.has(key))?.get(key, true) as Node | undefined
      if (args !== undefined) walk(args, key, name, new Set())
    }
  }
  return warnings.sort(byPlace)
}

/** `file:line:col ...` in line, then column order. */
function byPlace(a: string, b: string): number {
  const place = (text: string) => /:(\d+):(\d+) /.exec(text)!.slice(1).map(Number) as [number, number]
  const [lineA, colA] = place(a)
  const [lineB, colB] = place(b)
  return lineA - lineB || colA - colB
}

/** The mappings `map` merges in with `<<`, nearest first (a merge's own merges after it). */
function mergedMaps(map: YAMLMap, resolve: (node: unknown) => unknown, seen = new Set<unknown>()): YAMLMap[] {
  const found: YAMLMap[] = []
  for (const pair of map.items) {
    if (!isScalar(pair.key) || pair.key.source !== '<<') continue
    const value = resolve(pair.value)
    for (const source of isSeq(value) ? value.items.map(resolve) : [value]) {
      if (!isMap(source) || seen.has(source)) continue
      seen.add(source)
      found.push(source, ...mergedMaps(source, resolve, seen))
    }
  }
  return found
}
