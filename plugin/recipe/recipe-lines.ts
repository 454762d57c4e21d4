// No imports: the runtime (worker side) reads recipe lines for its code frames without loading yaml.

/**
 * The text as YAML should read it: without a UTF-8 byte order mark (editors count no column
 * for it, so line 1 keeps its columns), and with each CR that ends a line alone (the old Mac
 * line end, a line break in YAML) read as LF. Lengths are kept otherwise, so offsets stay
 * those of the file.
 */
export function normalizeRecipeText(text: string): string {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  return withoutBom.includes('\r') ? withoutBom.replace(/\r(?!\n)/g, '\n') : withoutBom
}
