import type { JsonValue } from '../context/json-value.ts'
import { DERIVED_SECRET, secretReference } from '../store/secret-references.ts'

export { restoreSecrets } from '../store/secret-references.ts'

/** Environment variables whose values are secrets even when no recipe names them. */
export const SECRET_NAME_PATTERN = /(?:_TOKEN|_PASSWORD|_SECRET|_KEY)$/i
/** Shorter values would redact ordinary words and numbers everywhere. */
const MIN_SECRET_LENGTH = 4
/** What a secret value becomes in logs, reports, messages and the store. */
export const MASK = '***'
/**
 * Secret values shorter than this are masked inside ordinary words and numbers too (a
 * password `admin` turns `administrator` into `***istrator`): they get a warning when the
 * recipe loads. So do values of letters only shorter than WORD_LENGTH, which read like words.
 */
export const WEAK_SECRET_LENGTH = 8
/** A value of letters only shorter than this reads like a word (`password`, `operator`). */
const WORD_LENGTH = 12

/**
 * A secret environment variable: its name, or a pattern of names (the plugin option `secrets`
 * takes both; a recipe's `secrets:` lists names).
 */
export type SecretName = string | RegExp

/** Whether the variable `name` is a secret: one of `names`, or named like one (SECRET_NAME_PATTERN). */
export function isSecretName(name: string, names: readonly SecretName[]): boolean {
  if (SECRET_NAME_PATTERN.test(name)) return true
  return names.some((item) =>
    typeof item === 'string' ? item === name : new RegExp(item.source, item.flags.replace(/[gy]/g, '')).test(name),
  )
}

/**
 * Secret names as a compiled recipe carries them (JSON): a pattern as `/source/flags`, which no
 * variable name can be (a name has no `/`).
 */
export function serializeSecretNames(names: readonly SecretName[]): string[] {
  return names.map((item) => (typeof item === 'string' ? item : `/${item.source}/${item.flags}`))
}

/** The reverse of serializeSecretNames. */
export function parseSecretNames(names: readonly string[]): SecretName[] {
  return names.map((item) => {
    const pattern = /^\/(.*)\/([a-z]*)$/s.exec(item)
    return pattern ? new RegExp(pattern[1]!, pattern[2]) : item
  })
}

/**
 * The forms a secret value takes in what the product writes, each masked like the value: as
 * it is; inside a JSON string (escaped once, and twice: a JSON line logged inside another
 * JSON string; with non-ASCII escaped as Python's json.dumps does); XML/HTML-escaped (JUnit,
 * the Office documents, the dashboard); in a Markdown table cell; in a single-quoted YAML or
 * SQL string; URL-encoded.
 */
export function secretForms(value: string): string[] {
  const inJson = (text: string) => JSON.stringify(text).slice(1, -1)
  const asciiJson = (text: string) =>
    inJson(text).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const xml = (text: string, apostrophe: string) =>
    text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, apostrophe)
  const forms = [
    value,
    inJson(value),
    inJson(inJson(value)),
    asciiJson(value),
    xml(value, '&#39;'),
    xml(value, '&apos;'),
    xml(value, "'"),
    value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' '),
    value.replace(/'/g, "''"),
    encodeURIComponent(value),
  ]
  return [...new Set(forms)]
}

export interface Redactor {
  /** Replaces every secret value, in any of its written forms (secretForms), in `text` by `***`. */
  text(text: string): string
  /** The same for every string value of a JSON value; object keys are data, never masked. */
  json<T extends JsonValue | undefined>(value: T): T
  /**
   * Like `json`, but each secret becomes a reference to where it came from, `***{NAME}` (the
   * environment variable) or `***{derived}` (declared at run time, or a secret in an escaped
   * form, which restoring the variable's value would not give back): what the store keeps of
   * ctx values, so `--resume-from` can put the real value back (`restoreSecrets`).
   */
  reference<T extends JsonValue | undefined>(value: T): T
  /**
   * Declares a value derived from a secret at run time (a session token, a base64 of a
   * password): masked from then on. Values shorter than 4 characters are refused (false).
   */
  add(value: string, source?: string): boolean
  /** Whether there is anything to redact. */
  readonly active: boolean
}

/**
 * Collects the values of the environment variables named in `names` (names or patterns of
 * names), plus those whose names look secret, and redacts them in every form they are
 * written in; values declared later with `add` too. Longer forms first, so a secret that
 * contains another is replaced whole.
 */
export function createRedactor(names: readonly SecretName[], env: NodeJS.ProcessEnv = process.env): Redactor {
  // Each form of each secret value and where it came from: the variable's name for the value
  // itself, `derived` for run-time declarations and for escaped forms.
  const sources = new Map<string, string>()
  let sorted: string[] = []
  const remember = (value: string, source: string) => {
    for (const form of secretForms(value))
      if (!sources.has(form)) sources.set(form, form === value ? source : DERIVED_SECRET)
    sorted = [...sources.keys()].sort((a, b) => b.length - a.length)
  }
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= MIN_SECRET_LENGTH && isSecretName(name, names)) remember(value, name)
  }
  const replace = (input: string, mask: (secret: string) => string): string => {
    let output = input
    for (const secret of sorted) if (output.includes(secret)) output = output.split(secret).join(mask(secret))
    return output
  }
  const text = (input: string): string => (sorted.length === 0 ? input : replace(input, () => MASK))
  const walk = <T extends JsonValue | undefined>(value: T, mask: (secret: string) => string): T => {
    if (sorted.length === 0 || value === undefined || value === null) return value
    if (typeof value === 'string') return replace(value, mask) as T
    if (Array.isArray(value)) return value.map((item) => walk(item, mask)) as T
    if (typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, mask)])) as T
    return value
  }
  return {
    text,
    json: (value) => walk(value, () => MASK),
    reference: (value) => walk(value, (secret) => secretReference(sources.get(secret)!)),
    add(value: string): boolean {
      if (value.length < MIN_SECRET_LENGTH) return false
      if (!sources.has(value)) remember(value, DERIVED_SECRET)
      return true
    },
    get active() {
      return sorted.length > 0
    },
  }
}

/**
 * The variables among `names` (a recipe's `secrets:`) and those whose names look secret whose
 * values are short or word-like enough to be masked inside ordinary text (see
 * WEAK_SECRET_LENGTH), by name, sorted; never their values. Unset and empty ones are left out.
 */
export function weakSecrets(names: readonly SecretName[], env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([name, value]) => {
      if (!value || !isSecretName(name, names)) return false
      return value.length < WEAK_SECRET_LENGTH || (value.length < WORD_LENGTH && /^[A-Za-z]+$/.test(value))
    })
    .map(([name]) => name)
    .sort()
}

/**
 * A shell, exec or Python step declares a derived secret on stderr, one line each:
 * `::add-mask::<value>` (the directive GitHub Actions uses). The runtime masks the value from
 * then on and takes the line out of the step's stderr.
 */
export const ADD_MASK_DIRECTIVE = '::add-mask::'

/** Takes `::add-mask::` lines out of `stderr`: the values they declare, and the rest of the text. */
export function takeMaskDirectives(stderr: string): { values: string[]; rest: string } {
  if (!stderr.includes(ADD_MASK_DIRECTIVE)) return { values: [], rest: stderr }
  const values: string[] = []
  const rest = stderr
    .split('\n')
    .filter((line) => {
      const at = line.indexOf(ADD_MASK_DIRECTIVE)
      if (at < 0) return true
      const value = line.slice(at + ADD_MASK_DIRECTIVE.length).replace(/\r$/, '')
      if (value) values.push(value)
      return false
    })
    .join('\n')
  return { values, rest }
}
