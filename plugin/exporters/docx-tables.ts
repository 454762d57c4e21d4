import {
  AlignmentType,
  type IContext,
  type IXmlableObject,
  Paragraph,
  ShadingType,
  Table,
  TableCell,
  TableLayoutType,
  TableRow,
  TextRun,
  WidthType,
} from 'docx'
import { cutText } from '../format/document-text.ts'
import { STATUS_COLORS } from '../format/run-format.ts'

// The Word document's tables laid out for the page: each column measured by the text it holds,
// the widths that fill the page, and whether the table needs a landscape page.

/** A column of a table: its header, whether its text may wrap at spaces (free text), whether its cells are statuses to colour. */
export interface TableColumn {
  header: string
  wrap?: boolean
  status?: boolean
}

/** A table laid out for its page: landscape when it does not fit across a portrait page. */
export interface LaidTable {
  table: Table
  landscape: boolean
}

/** The text of tables: a font every office suite has or replaces by one as wide (Arial; Liberation Sans, DejaVu Sans), 9 pt. */
export const TABLE_FONT = 'Arial'
export const TABLE_SIZE = 18
/** The paragraph style of the tables' text, in that font and size. */
export const TABLE_STYLE = 'TableText'
/** Twips (twentieths of a point) between a cell's border and its text, left and right. */
const CELL_PADDING = 80
/** The width between the margins (1 inch each) of an A4 page (docx's default), in twips: upright and across. */
const PORTRAIT_WIDTH = 11906 - 2 * 1440
const LANDSCAPE_WIDTH = 16838 - 2 * 1440
/** An em of the tables' text, in twips. */
const EM = TABLE_SIZE * 10
/** The longest text a table cell holds (a longer one is cut, saying how long it was): rows never split over pages. */
const TABLE_CELL_MAX = 500
/** The longest word, in ems, a column of free text keeps whole; a longer one (a path, a hash) breaks where the line ends. */
const LONGEST_KEPT_WORD = 16
/** The narrowest a column of free text gets, in ems (unless all its text is shorter): a few words a line. */
const READABLE_LINE = 18

/**
 * A full-width table with a shaded header row repeated on every page it runs over. Each
 * column is as wide as its longest text needs: its cells never break a word or a number, the
 * columns of free text (`wrap`) wrap at spaces. A table whose unbroken columns do not fit
 * across an upright page is laid across a landscape one; one that fits neither keeps its
 * narrow columns whole and cuts its widest ones to what is left.
 */
export function layTable(columns: TableColumn[], texts: string[][]): LaidTable {
  // A row never splits over two pages: one taller than a page would be cut off in print.
  const rows = texts.map((cells) => cells.map((text) => cutText(text, TABLE_CELL_MAX)))
  const least = columns.map((column) => textWidth(column.header, true))
  const most = [...least]
  for (const cells of rows)
    cells.forEach((text, i) => {
      const whole = textWidth(text, false)
      // Free text needs room for its longest word, and for a few words a line (or all of it, when shorter).
      const kept = columns[i]!.wrap
        ? Math.max(Math.min(longestWord(text), LONGEST_KEPT_WORD * EM), Math.min(whole, READABLE_LINE * EM))
        : whole
      if (kept > least[i]!) least[i] = kept
      if (whole > most[i]!) most[i] = whole
    })
  const needed = least.map((width) => width + 2 * CELL_PADDING + 40)
  const wanted = most.map((width, i) => Math.max(width + 2 * CELL_PADDING + 40, needed[i]!))
  const landscape = sum(needed) > PORTRAIT_WIDTH
  const widths = columnWidths(needed, wanted, landscape ? LANDSCAPE_WIDTH : PORTRAIT_WIDTH)
  // Cells alike (a column's statuses, its empty cells, its repeated values) are one cell, prepared once.
  const cells = new Map<string, TableCell>()
  const cell = (text: string, column: number, bold: boolean, fill?: string) => {
    const key = `${column}${bold ? 'b' : ''}:${fill ?? ''}:${text}`
    let made = cells.get(key)
    if (!made)
      cells.set(
        key,
        (made = new RepeatedCell({
          width: { size: widths[column]!, type: WidthType.DXA },
          children: [
            new Paragraph({
              style: TABLE_STYLE,
              alignment: AlignmentType.LEFT,
              children: [bold ? new TextRun({ text, bold }) : new TextRun(text)],
            }),
          ],
          ...(fill ? { shading: shade(fill) } : {}),
        })),
      )
    return made
  }
  const headerRow = new TableRow({
    tableHeader: true,
    cantSplit: true,
    children: columns.map((column, i) => cell(column.header, i, true, 'D9D9D9')),
  })
  const body = rows.map(
    (cells) =>
      new TableRow({
        cantSplit: true,
        children: cells.map((text, i) => cell(text, i, false, columns[i]!.status ? STATUS_COLORS[text] : undefined)),
      }),
  )
  return {
    landscape,
    table: new Table({
      width: { size: sum(widths), type: WidthType.DXA },
      columnWidths: widths,
      layout: TableLayoutType.FIXED,
      margins: { left: CELL_PADDING, right: CELL_PADDING, marginUnitType: WidthType.DXA },
      rows: [headerRow, ...body],
    }),
  }
}

/** A table cell whose XML is worked out once however many rows show it (docx prepares each cell anew at each use). */
class RepeatedCell extends TableCell {
  private prepared: IXmlableObject | undefined

  override prepForXml(context: IContext): IXmlableObject | undefined {
    this.prepared ??= super.prepForXml(context)
    return this.prepared
  }
}

/**
 * Column widths filling `page`: each column gets what it needs (`needed`), then the space left
 * goes to the columns that want more (`wanted`: their text on one line), in proportion to how
 * much more, and what is left after that to every column alike. When even the needs do not
 * fit, the widest columns are cut down to one width, the narrow ones kept whole.
 */
function columnWidths(needed: number[], wanted: number[], page: number): number[] {
  let widths = [...needed]
  if (sum(widths) > page) {
    // The widest columns are cut to the width `cap` at which the whole table fits.
    const sorted = [...widths].sort((a, b) => a - b)
    let rest = page
    let cap = 0
    for (const [i, width] of sorted.entries()) {
      const share = rest / (sorted.length - i)
      if (width > share) {
        cap = share
        break
      }
      rest -= width
    }
    widths = widths.map((width) => Math.min(width, cap))
  }
  const spare = page - sum(widths)
  const more = wanted.map((width, i) => Math.max(0, width - widths[i]!))
  const totalMore = sum(more)
  if (totalMore >= spare) widths = widths.map((width, i) => width + (spare * more[i]!) / totalMore)
  else {
    widths = widths.map((width, i) => width + more[i]!)
    const total = sum(widths)
    widths = widths.map((width) => width + ((page - total) * width) / total)
  }
  return widths.map((width) => Math.floor(width))
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0)
}

/** The widest word of `text` (its runs between spaces), in twips, as a table cell prints it. */
function longestWord(text: string): number {
  let widest = 0
  for (const word of text.split(/\s+/)) widest = Math.max(widest, textWidth(word, false))
  return widest
}

/**
 * How wide `text` prints in a table cell, in twips, slightly over rather than under: each
 * character's width, in ems, as wide as DejaVu Sans draws it (the widest of the fonts an
 * office suite prints Arial with), bold a tenth wider.
 */
function textWidth(text: string, bold: boolean): number {
  let ems = 0
  for (const c of text) ems += charWidth(c)
  return Math.ceil(ems * (bold ? 1.1 : 1) * EM)
}

function charWidth(c: string): number {
  if ("il.,:;|!'`j".includes(c)) return 0.32
  if (' frt()[]{}/\\-"*'.includes(c)) return 0.42
  if (c === 'm' || c === 'M' || c === 'W' || c === '@' || c === '%') return 1
  if (c === 'w') return 0.84
  if (c >= 'A' && c <= 'Z') return 0.78
  // Digits, the other lower-case letters, _ and the rest of ASCII.
  if (c < '\u0080') return 0.64
  return 1
}

/**
 * Compact JSON with a space after each comma and colon outside its strings, so that a long
 * value wraps in its cell between items rather than inside a word.
 */
export function spacedJson(json: string): string {
  let out = ''
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!
    out += c
    if (inString) {
      if (c === '\\') out += json[++i] ?? ''
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === ',' || c === ':') out += ' '
  }
  return out
}

/** A cell or text run shaded in `color` (a hex RGB). */
export function shade(color: string) {
  return { type: ShadingType.CLEAR, color: 'auto', fill: color }
}
