/**
 * The names a scriptlet module defines, read from its text without running it, so that a
 * misspelt `class:` / `function:` is a compile error. Where a module's names cannot be
 * known statically (`export *`, `from x import *`, a module `__getattr__`), the answer is
 * `undefined`: the step is accepted and the runtime reports what is missing.
 */

export interface ModuleNames {
  /** Names the module certainly defines (for the message and a did-you-mean). */
  names: string[]
  /** Is `name` possibly defined? False only when the text shows for sure it is not. */
  has(name: string): boolean
}

const WORD = '[A-Za-z_$][\\w$]*'

/** Exports of a TypeScript/JavaScript module; undefined when it re-exports another module wholesale. */
export function typescriptExports(text: string): ModuleNames | undefined {
  const code = stripJsComments(text)
  if (/\bexport\s*\*\s*from\b/.test(code) || /\bexport\s*=/.test(code)) return undefined
  const names = new Set<string>()
  if (/\bexport\s+default\b/.test(code)) names.add('default')
  const declaration = new RegExp(
    `\\bexport\\s+(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(?:function\\s*\\*?|class|const|let|var|enum|namespace)\\s+(${WORD})`,
    'g',
  )
  for (const match of code.matchAll(declaration)) names.add(match[1]!)
  for (const match of code.matchAll(new RegExp(`\\bexport\\s*\\*\\s*as\\s+(${WORD})`, 'g'))) names.add(match[1]!)
  for (const match of code.matchAll(/\bexport\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const item of match[1]!.split(',')) {
      const exported = item
        .trim()
        .split(/\s+as\s+/)
        .at(-1)
        ?.trim()
      if (exported) names.add(exported.replace(/^type\s+/, ''))
    }
  }
  // `export const a = 1, b = 2` and destructured exports are not read above: a name that the
  // text holds anywhere may be one of them, so only a name absent from the text is missing.
  return {
    names: [...names],
    has: (name) => names.has(name) || new RegExp(`(^|[^\\w$])${escapeRegExp(name)}($|[^\\w$])`).test(code),
  }
}

/**
 * Top-level names of a Python module: `def`, `class`, assignments and imports, also inside
 * top-level `if`/`try`/`with` blocks. Undefined when names can appear dynamically.
 */
export function pythonTopLevelNames(text: string): ModuleNames | undefined {
  const code = stripPythonStrings(text)
  if (
    /^\s*from\s+\S+\s+import\s+\*/m.test(code) ||
    /^def\s+__getattr__\b/m.test(code) ||
    /\b(globals|vars)\s*\(\s*\)|\bsetattr\s*\(|\bsys\.modules\b|\bexec\s*\(/.test(code)
  )
    return undefined
  const names = new Set<string>()
  let inBody = false
  const lines = joinContinuations(code.split('\n'))
  for (const line of lines) {
    if (line.trim() === '' || /^\s*#/.test(line)) continue
    const topLevel = !/^\s/.test(line)
    if (topLevel) inBody = /^(?:async\s+def|def|class)\b/.test(line) || /^@/.test(line)
    else if (inBody) continue
    const statement = line.trim()
    let match = /^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)/.exec(statement)
    if (match) {
      names.add(match[1]!)
      continue
    }
    match = /^import\s+(.+)$/.exec(statement)
    if (match) {
      for (const item of match[1]!.split(',')) {
        const [module, alias] = item.trim().split(/\s+as\s+/)
        const bound = alias ?? module?.split('.')[0]
        if (bound) names.add(bound.trim())
      }
      continue
    }
    match = /^from\s+\S+\s+import\s+(.+)$/.exec(statement)
    if (match) {
      for (const item of match[1]!.replace(/[()]/g, '').split(',')) {
        const bound = item
          .trim()
          .split(/\s+as\s+/)
          .at(-1)
          ?.trim()
        if (bound) names.add(bound)
      }
      continue
    }
    // `a = b = 1`, `a, b = pair`, `x: int = 3`; `==` is a comparison, not an assignment.
    const targets = statement.split(/(?<![=!<>+\-*/%&|^@:])=(?!=)/).slice(0, -1)
    for (const target of targets) {
      for (const name of target.replace(/:.*$/, '').split(/[\s,()[\]]+/))
        if (/^[A-Za-z_]\w*$/.test(name)) names.add(name)
    }
    match = /^(?:for|with|except)\b.*?\b(?:as|for)\s+([A-Za-z_]\w*)/.exec(statement)
    if (match) names.add(match[1]!)
  }
  return { names: [...names], has: (name) => names.has(name) }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function stripJsComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:\\])\/\/.*$/gm, '$1')
}

/** Triple-quoted strings (docstrings) become `""` and their line breaks, so their text is not read as code. */
function stripPythonStrings(text: string): string {
  return text.replace(/("""|''')[\s\S]*?\1/g, (string) => `""${string.replace(/[^\n]/g, '')}`)
}

/** Lines ending in `\` or inside open brackets joined, so `from x import (\n a,\n b)` is one statement. */
function joinContinuations(lines: readonly string[]): string[] {
  const joined: string[] = []
  let pending = ''
  let depth = 0
  for (const line of lines) {
    const code = line.replace(/#.*$/, '')
    pending = pending === '' ? code : `${pending} ${code.trim()}`
    for (const char of code.replace(/(["'])(?:\\.|(?!\1).)*\1/g, '')) {
      if ('([{'.includes(char)) depth++
      else if (')]}'.includes(char)) depth = Math.max(0, depth - 1)
    }
    if (depth > 0 || pending.endsWith('\\')) {
      pending = pending.replace(/\\$/, '')
      continue
    }
    joined.push(pending)
    pending = ''
  }
  if (pending !== '') joined.push(pending)
  return joined
}
