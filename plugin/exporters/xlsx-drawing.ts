import type ExcelJS from 'exceljs'

/** The parts of exceljs's streaming writer a sheet of pictures needs: it has no API for them (only the in-memory workbook has). */
interface StreamingInternals {
  zip: { append(source: unknown, options: { name: string }): unknown }
}
interface SheetInternals {
  _sheetRelsWriter: { addRelationship(relationship: { Type: string; Target: string }): string }
  _write(text: string): void
  _writeLegacyData(): void
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
const RELATIONSHIPS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
/** Pixels (96 to the inch) to the EMUs drawings count in. */
const EMU_PER_PIXEL = 9525

/**
 * The pictures of a streamed sheet: one drawing part (xl/drawings/drawing1.xml, so one such
 * sheet a workbook) anchoring each PNG (xl/media) at its row, written beside the sheet.
 */
export class SheetPictures {
  private readonly workbook: ExcelJS.stream.xlsx.WorkbookWriter
  private readonly sheet: ExcelJS.Worksheet
  private readonly anchors: string[] = []
  private readonly relationships: string[] = []

  constructor(workbook: ExcelJS.stream.xlsx.WorkbookWriter, sheet: ExcelJS.Worksheet) {
    this.workbook = workbook
    this.sheet = sheet
  }

  /** `png`, `width` × `height` pixels, in column A just below row `row` (1-based): its caption's. */
  add(png: Uint8Array, row: number, width: number, height: number, name: string, title: string): void {
    const id = this.anchors.length + 1
    const image = this.workbook.addImage({ buffer: Buffer.from(png) as never, extension: 'png' })
    this.relationships.push(
      `<Relationship Id="rId${id}" Type="${RELATIONSHIPS}/image" Target="../media/${(this.workbook.getImage(image) as ExcelJS.Image & { name: string }).name}"/>`,
    )
    this.anchors.push(pictureAnchor(id, row, width, height, name, title))
  }

  /** Writes the drawing part and ties the sheet to it (none when it has no pictures); before the sheet is committed. */
  write(): void {
    if (this.anchors.length === 0) return
    const { anchors, relationships, sheet } = this
    const zip = (this.workbook as unknown as StreamingInternals).zip
    zip.append(
      `${XML_HEAD}<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="${RELATIONSHIPS}">${anchors.join('')}</xdr:wsDr>`,
      { name: 'xl/drawings/drawing1.xml' },
    )
    zip.append(
      `${XML_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${relationships.join('')}</Relationships>`,
      { name: 'xl/drawings/_rels/drawing1.xml.rels' },
    )
    // The drawing part needs its content type, which the streaming writer's [Content_Types].xml does not list.
    const append = zip.append.bind(zip)
    zip.append = (source, options) =>
      append(
        options.name === '[Content_Types].xml' && typeof source === 'string'
          ? source.replace(
              '</Types>',
              '<Override PartName="/xl/drawings/drawing1.xml" ContentType="application/vnd.openxmlformats-officedocument.drawing+xml"/></Types>',
            )
          : source,
        options,
      )
    const internals = sheet as unknown as SheetInternals
    const id = internals._sheetRelsWriter.addRelationship({
      Type: `${RELATIONSHIPS}/drawing`,
      Target: '../drawings/drawing1.xml',
    })
    // <drawing> goes after the row breaks and before <legacyDrawing>, where the writer puts its comments.
    const writeLegacyData = internals._writeLegacyData.bind(sheet)
    internals._writeLegacyData = () => {
      internals._write(`<drawing r:id="${id}"/>`)
      writeLegacyData()
    }
  }
}

/** A picture anchored at the top left of `row` (1-based) in column A, `width` × `height` pixels. */
function pictureAnchor(id: number, row: number, width: number, height: number, name: string, title: string): string {
  const cx = width * EMU_PER_PIXEL
  const cy = height * EMU_PER_PIXEL
  return (
    `<xdr:oneCellAnchor><xdr:from><xdr:col>0</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>${row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>` +
    `<xdr:ext cx="${cx}" cy="${cy}"/><xdr:pic><xdr:nvPicPr><xdr:cNvPr id="${id + 1}" name="${xmlAttribute(name)}" descr="${xmlAttribute(title)}"/>` +
    '<xdr:cNvPicPr><a:picLocks noChangeAspect="1"/></xdr:cNvPicPr></xdr:nvPicPr>' +
    `<xdr:blipFill><a:blip r:embed="rId${id}"/><a:stretch><a:fillRect/></a:stretch></xdr:blipFill>` +
    `<xdr:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="${cx}" cy="${cy}"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr>` +
    '</xdr:pic><xdr:clientData/></xdr:oneCellAnchor>'
  )
}

/** Text as an XML attribute value; control characters, which XML cannot hold, are dropped. */
function xmlAttribute(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
  )
}
