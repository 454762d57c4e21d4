import type ExcelJS from 'exceljs'

// How the workbook's sheets print: one page wide, upright or across, the header row and a
// title on every page, and each row as tall as its wrapped text.

/** Inches of a page's margins (each side, top and bottom), and what is left of the smaller of A4 (8.27 × 11.69 in) and Letter (8.5 × 11 in). */
const SIDE_MARGIN = 0.5
const TOP_MARGIN = 0.75
const PORTRAIT_WIDTH = 8.27 - 2 * SIDE_MARGIN
const PORTRAIT_HEIGHT = 11 - 2 * TOP_MARGIN
const LANDSCAPE_WIDTH = 11 - 2 * SIDE_MARGIN
const LANDSCAPE_HEIGHT = 8.27 - 2 * TOP_MARGIN

/** Inches across a sheet of columns `widths` wide (in characters: a column of w is about 7w + 5 pixels, 96 to the inch). */
function sheetInches(widths: readonly number[]): number {
  return widths.reduce((sum, width) => sum + (7 * width + 5) / 96, 0)
}

/** Whether a sheet prints across the page: when it would shrink by more than a tenth to fit an upright one. */
function landscape(widths: readonly number[]): boolean {
  return sheetInches(widths) > PORTRAIT_WIDTH * 1.1
}

/** The height of a printed page, in pixels of the sheet (it prints shrunk to the page's width when wider). */
export function pagePixels(widths: readonly number[]): number {
  const inches = sheetInches(widths)
  const across = landscape(widths)
  const scale = Math.min(1, (across ? LANDSCAPE_WIDTH : PORTRAIT_WIDTH) / inches)
  return ((across ? LANDSCAPE_HEIGHT : PORTRAIT_HEIGHT) * 96) / scale
}

/**
 * How a sheet prints: one page wide, as many pages long as it takes (fitToWidth 1, fitToHeight
 * 0: a sheet's columns are never split over pages), across the page (landscape) when its
 * columns are wider than an upright page (see landscape), its first row repeated at the top of every page,
 * and each page headed with the report's title and the sheet's name, and numbered.
 */
export function printed(name: string, title: string, widths: number[]): Partial<ExcelJS.AddWorksheetOptions> {
  return {
    pageSetup: {
      orientation: landscape(widths) ? 'landscape' : 'portrait',
      fitToPage: true,
      fitToWidth: 1,
      fitToHeight: 0,
      ...(name === 'Charts' ? {} : { printTitlesRow: '1:1' }),
      margins: { left: SIDE_MARGIN, right: SIDE_MARGIN, top: TOP_MARGIN, bottom: TOP_MARGIN, header: 0.3, footer: 0.3 },
    },
    headerFooter: {
      // & starts a code in a header: a title's own is doubled. Excel keeps 255 characters of a header.
      oddHeader: `&L${title.slice(0, 120).replaceAll('&', '&&')}&R&A`,
      oddFooter: '&CPage &P of &N',
    } as ExcelJS.HeaderFooter,
  }
}

/** Points a line of the default font (Calibri 11) takes in a row, and the tallest row a sheet may have. */
const LINE_HEIGHT = 15
const MAX_ROW_HEIGHT = 409

/**
 * How many lines `text` wraps to in a column `width` characters wide, at spaces, a word longer
 * than the line broken where it ends. Counted over rather than under: every character as wide
 * as a digit (most letters are narrower), so the text never spills out of its row.
 */
function wrappedLines(text: string, width: number): number {
  const room = Math.max(1, width - 1)
  let lines = 0
  for (const paragraph of text.split('\n')) {
    lines++
    let used = 0
    for (const word of paragraph.split(' ')) {
      const needed = used === 0 ? word.length : used + 1 + word.length
      if (needed <= room) used = needed
      else {
        if (used > 0) lines++
        used = word.length
        while (used > room) {
          lines++
          used -= room
        }
      }
      if (lines * LINE_HEIGHT >= MAX_ROW_HEIGHT) return lines
    }
  }
  return lines
}

/** How many lines a cell's text takes: more than one only in a column that wraps it. */
export function cellLines(row: ExcelJS.Row, target: ExcelJS.Cell): number {
  return target.style.alignment?.wrapText && typeof target.value === 'string' && target.value.length > 8
    ? wrappedLines(target.value, row.worksheet.getColumn(target.col).width ?? 10)
    : 1
}

/**
 * Makes the row as tall as its `lines` lines of wrapped text: a spreadsheet opened from a file
 * keeps the rows at the height the file gives (LibreOffice does not fit them), and wrapped text
 * would spill over the rows below.
 */
export function fitRowHeight(row: ExcelJS.Row, lines: number): void {
  if (lines > 1) row.height = Math.min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT)
}
