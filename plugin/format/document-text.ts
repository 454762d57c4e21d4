import { formatCount } from './numbers.ts'

// How text a run was given (step names, reasons, logs, ctx keys and values, test_meta, metric
// names) is written into a document that people open: the one rule every writer shares. The
// run store keeps the text as it came; only the documents adapt it.

/**
 * The characters an XML 1.0 document may not hold (Word refuses a document.xml with one,
 * LibreOffice cannot load it, a chart's SVG does not parse): the C0 controls but tab, line
 * feed and carriage return, U+FFFE and U+FFFF, and surrogates without their pair. DEL (U+007F)
 * too: XML allows it, but it is as invisible as the others.
 */
const UNWRITABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it finds
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * `text` as a document can hold it and a reader still sees what it says: each control
 * character as its Unicode control picture (ESC as ␛, NUL as ␀, so a colour code reads
 * `␛[31m`), U+FFFE, U+FFFF and a lone surrogate as their `\uXXXX` escape. Text without them is
 * returned as it is.
 */
export function visibleText(text: string): string {
  UNWRITABLE.lastIndex = 0
  if (!UNWRITABLE.test(text)) return text
  return text.replace(UNWRITABLE, (char) => {
    const code = char.charCodeAt(0)
    if (code < 0x20) return String.fromCharCode(0x2400 + code)
    if (code === 0x7f) return '\u2421'
    return `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`
  })
}

/**
 * `value` with every string in it (object keys too) made visibleText, and each string but the
 * keys cut to `max` characters (cutText); the same object when nothing needed it. Walks plain
 * objects and arrays only: other objects (a picture's bytes) are kept as they are.
 */
export function visibleValues<T>(value: T, max = Number.POSITIVE_INFINITY): T {
  if (typeof value === 'string') return cutText(visibleText(value), max) as T
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((item) => {
      const shown = visibleValues(item, max)
      if (shown !== item) changed = true
      return shown
    })
    return (changed ? out : value) as T
  }
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value
  let changed = false
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    const shownKey = visibleText(key)
    const shown = visibleValues(item, max)
    if (shownKey !== key || shown !== item) changed = true
    out[shownKey] = shown
  }
  return (changed ? out : value) as T
}

/**
 * `text` cut to at most `max` characters when longer, saying so and how long it was:
 * `…` and `(40,000 characters in all)`. A text cut before keeps the length it had at first. A
 * character pair (an emoji) is never cut in two.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text
  const earlier = CUT_NOTE.exec(text)
  const whole = earlier ? text.slice(0, earlier.index) : text
  const note = earlier ? earlier[0] : `… (${formatCount(text.length)} characters in all)`
  let end = Math.max(0, max - note.length)
  // Not between the two halves of a surrogate pair.
  if (end > 0 && /[\uD800-\uDBFF]/.test(whole[end - 1]!)) end--
  return `${whole.slice(0, end)}${note}`
}

/** What cutText ends a text with. */
const CUT_NOTE = /… \([\d,]+ characters in all\)$/
