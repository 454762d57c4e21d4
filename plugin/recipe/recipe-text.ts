import { Buffer } from 'node:buffer'
import { type Document, isCollection, isMap, isPair, isScalar, LineCounter, parseDocument, visit } from 'yaml'
import type { RecipeIssue } from './errors.ts'
import { readPyYamlBooleans } from './pyyaml-booleans.ts'
import { normalizeRecipeText } from './recipe-lines.ts'
import { RecipeSource } from './source.ts'

export { normalizeRecipeText }

/**
 * The text of a recipe file before YAML reads it. Recipe files come from every editor and
 * tool of a lab: Windows ones write CRLF line ends, a UTF-8 byte order mark, or UTF-16; some
 * write the old Mac CR alone; a data table pasted inline makes a file of tens of megabytes.
 * Every reader of recipe files (the compiler, the CLI, the tag and matrix readers Vitest's
 * start runs) goes through here, so a file reads the same, with the same places, everywhere.
 */

/**
 * Recipe files are read whole, with every node's position: yaml holds about 150 times the
 * file's size in memory (a 50 MB file took 4 GB and crashed Vitest). 10,000 steps take under 1 MB.
 */
export const MAX_RECIPE_BYTES = 4_000_000

/** Deeper values are refused: yaml and the checks after it recurse, and a stack overflow says nothing useful. */
export const MAX_RECIPE_DEPTH = 100

/** The yaml options of every recipe reader: YAML 1.2 plus merge keys (`<<: *defaults`), which PyYAML reads too. */
export const RECIPE_YAML_OPTIONS = { merge: true, prettyErrors: false, uniqueKeys: true } as const

const ENCODING_HINT =
  'Save the file as UTF-8 (VS Code: "Save with Encoding" > UTF-8; Windows PowerShell 5 writes UTF-16 with > and Out-File: use Out-File -Encoding utf8 or Set-Content).'

/**
 * Why the file cannot be read as a recipe's text, before YAML looks at it: too large, or not
 * UTF-8 (read as UTF-8, as Vite and the CLI read it, UTF-16 shows NUL characters and each
 * byte that is not UTF-8 a U+FFFD).
 */
export function recipeTextIssue(text: string, file: string): RecipeIssue | undefined {
  const bytes = text.length > MAX_RECIPE_BYTES / 3 ? Buffer.byteLength(text, 'utf8') : text.length
  if (bytes > MAX_RECIPE_BYTES)
    return {
      code: 'RECIPE_TOO_LARGE',
      message: `this recipe file is ${megabytes(bytes)}; recipe files are limited to ${megabytes(MAX_RECIPE_BYTES)} (a recipe is read whole, with the place of every value, which takes about 150 times its size in memory)`,
      location: { file, line: 1, column: 1 },
      hint: 'Keep data in a file under Data/ and pass its path in args; split a very long procedure into several recipes.',
    }
  const nul = text.indexOf('\u0000')
  if (nul !== -1) {
    // FF FE or FE FF read as UTF-8 are two U+FFFD.
    const bom = text.startsWith('\uFFFD\uFFFD')
    return {
      code: 'RECIPE_ENCODING',
      message: bom
        ? 'this file is UTF-16 text (it starts with a UTF-16 byte order mark); recipe files are UTF-8'
        : 'this file holds NUL characters: it is not UTF-8 text (UTF-16 without a byte order mark, or not a text file)',
      location: { file, line: 1, column: 1 },
      hint: ENCODING_HINT,
    }
  }
  const bad = text.indexOf('\uFFFD')
  if (bad !== -1) {
    const source = new RecipeSource(file, normalizeRecipeText(text))
    const offset = text.charCodeAt(0) === 0xfeff ? bad - 1 : bad
    return {
      code: 'RECIPE_ENCODING',
      message:
        'this character is not UTF-8: the file seems saved in another encoding (such as Windows-1252 or Latin-1), and recipe files are UTF-8',
      location: source.locate(offset, 1),
      hint: ENCODING_HINT,
    }
  }
  return undefined
}

/**
 * Why Vitest cannot run a recipe at `file` (the path shown, from the project root), if it
 * cannot: Vite reads `?` as the start of a query and `#` as a fragment, so Vitest does not
 * find the file; a `%` and two hex digits (`%20`) is decoded somewhere on the way, so the
 * tests run but lose their YAML lines (the VS Code gutter, `vitest list --json`).
 */
export function recipePathIssue(file: string): RecipeIssue | undefined {
  const bad = /[#?]|%[0-9A-Fa-f]{2}/.exec(file)
  if (!bad) return undefined
  return {
    code: 'RECIPE_FILE_NAME',
    message: `Vitest cannot use a test file whose path holds ${JSON.stringify(bad[0])}: ${bad[0].startsWith('%') ? 'its steps lose their YAML lines' : 'it does not find the file'}`,
    location: { file, line: 1, column: 1 },
    hint: 'Rename the file (or its folder) without #, ? and % followed by two hex digits, for example with - or _ instead.',
  }
}

/** The first place where values nest deeper than MAX_RECIPE_DEPTH, as an offset into the text. */
export function tooDeep(doc: Document): number | undefined {
  // Iterative: a recursive walk would overflow where yaml did not.
  const stack: { node: unknown; depth: number }[] = [{ node: doc.contents, depth: 0 }]
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!
    if (!isCollection(node)) continue
    if (depth >= MAX_RECIPE_DEPTH) return node.range?.[0] ?? 0
    for (const item of node.items) {
      if (isPair(item)) {
        stack.push({ node: item.value, depth: depth + 1 })
        if (isCollection(item.key)) stack.push({ node: item.key, depth: depth + 1 })
      } else stack.push({ node: item, depth: depth + 1 })
    }
  }
  return undefined
}

/** The issue for values nested too deeply, at `offset` (where the level past the limit starts). */
export function tooDeepIssue(source: RecipeSource, offset: number): RecipeIssue {
  return {
    code: 'RECIPE_TOO_LARGE',
    message: `values are nested too deeply here: recipes allow ${MAX_RECIPE_DEPTH} levels of lists and mappings`,
    location: source.locate(offset, 1),
    hint: 'Flatten the structure, or keep such data in a file under Data/ and pass its path in args.',
  }
}

/**
 * The top-level keys that only hold anchors used elsewhere (`defaults: &defaults {...}`,
 * `x-kinds: { ts: &ts {...} }`): a place to write what steps merge in (`<<: *defaults`),
 * which the older framework, reading any top-level key, allowed. Keys the schema knows are never such.
 */
export function anchorHolders(doc: Document, known: ReadonlySet<string>): Set<string> {
  const holders = new Set<string>()
  if (!isMap(doc.contents)) return holders
  const used = new Set<string>()
  visit(doc, {
    Alias(_key, node) {
      used.add(node.source)
    },
  })
  if (used.size === 0) return holders
  for (const pair of doc.contents.items) {
    if (!isScalar(pair.key) || typeof pair.key.value !== 'string' || known.has(pair.key.value)) continue
    let holds = false
    const check = (node: unknown) => {
      const anchor = (node as { anchor?: string } | null)?.anchor
      if (anchor !== undefined && used.has(anchor)) holds = true
    }
    check(pair.value)
    if (!holds && isCollection(pair.value))
      visit(pair.value, (_key, node) => {
        check(node)
        return holds ? visit.BREAK : undefined
      })
    if (holds) holders.add(pair.key.value)
  }
  return holders
}

/**
 * A recipe file's YAML as plain data, for the readers that only look into it (tags, matrix)
 * and must never fail or take long: undefined when it cannot be read (too large, not UTF-8,
 * broken YAML, too deep, an alias bomb). Its compiled test module says why.
 */
export function parseRecipeYaml(text: string): unknown {
  if (recipeTextIssue(text, '') !== undefined) return undefined
  try {
    const doc = parseDocument(normalizeRecipeText(text), { ...RECIPE_YAML_OPTIONS, lineCounter: new LineCounter() })
    if (doc.errors.length > 0 || tooDeep(doc) !== undefined) return undefined
    readPyYamlBooleans(doc)
    return doc.toJS()
  } catch {
    return undefined
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}
