/**
 * How wide the charts' text is drawn, for Vega's layout (render.ts) and the specs' own line
 * breaks (spec-base.ts): Vega has no canvas to measure with here.
 */

/**
 * Width of `text` at `size` px, at least as wide as DejaVu Sans (bold included) draws it,
 * whose glyphs run from 0.3 em (i, l, punctuation) to 1.1 em (W, m in bold); a glyph from
 * another script (CJK: 1 em, drawn by a fallback font) counts 1.1 em.
 */
export function textWidth(text: string, size: number): number {
  let em = 0
  for (const char of text) {
    if (/[mwMW@%]/.test(char) || char.codePointAt(0)! > 0x2e7f) em += 1.12
    else if (/[iljtfrI.,:;'|!()[\]{} ]/.test(char)) em += 0.5
    else if (/[a-z0-9]/.test(char)) em += 0.74
    else em += 0.86
  }
  return Math.ceil(em * size)
}
