import { writeFile } from 'node:fs/promises'
import {
  Document,
  HeadingLevel,
  ImageRun,
  type IContext,
  type ISectionOptions,
  type IRunOptions,
  type IXmlableObject,
  Packer,
  PageOrientation,
  Paragraph,
  type Table,
  TextRun,
} from 'docx'
import type { DocumentCharts } from '../charts/index.ts'
import { visibleValues } from '../format/document-text.ts'
import { numericMetrics, testMetaOf, type RunData, type StepRow } from '../store/run-data.ts'
import { describeAttempts, formatBytes, formatMs, STATUS_COLORS, statusCounts } from '../format/run-format.ts'
import { type LaidTable, layTable, shade, spacedJson, TABLE_FONT, TABLE_SIZE, TABLE_STYLE } from './docx-tables.ts'
import {
  aiSummaryBlock,
  compactJson,
  listedContext,
  listedOutputs,
  READ_TEXT_MAX,
  readableRun,
  reportTitle,
  stepOutputs,
  titleFields,
} from './format.ts'

/**
 * The run as a Word document, the one a lab hands over: a title block from test_meta, a
 * summary table, a section per step (status, reason, params, outputs, metrics), the final
 * context and the analysis.
 */
export async function writeDocx(data: RunData, file: string, charts?: DocumentCharts): Promise<void> {
  await writeFile(file, await renderDocx(data, charts))
}

/** The Word document of a run, as the bytes of its file. */
export async function renderDocx(run: RunData, drawn?: DocumentCharts): Promise<Buffer> {
  // Word refuses a document holding a control character: the run's text as documents show it.
  const data = readableRun(run, READ_TEXT_MAX)
  const charts = drawn && visibleValues(drawn)
  const meta = testMetaOf(data.run)
  const repeated = repeatedRuns()
  const pages = new Pages()
  pages.add(
    new Paragraph({
      text: typeof meta.test_id === 'string' ? meta.test_id : data.run.recipe,
      heading: HeadingLevel.TITLE,
    }),
    ...(typeof meta.description === 'string' && meta.description
      ? [
          new Paragraph({
            children: [new TextRun({ text: meta.description, italics: true, size: 26 })],
            spacing: { after: 200 },
          }),
        ]
      : []),
  )
  pages.addTable(layTable([{ header: 'field' }, { header: 'value', wrap: true }], titleFields(data)))
  pages.addTable(
    layTable(
      [
        { header: '#' },
        { header: 'step' },
        { header: 'status', status: true },
        { header: 'duration' },
        { header: 'exit' },
        { header: 'reason', wrap: true },
      ],
      data.steps.map((step) => [
        String(step.idx),
        step.step,
        step.status,
        formatMs(step.durationMs),
        step.exitCode === null ? '' : String(step.exitCode),
        step.reason ?? '',
      ]),
    ),
    [
      new Paragraph({ text: 'Summary', heading: HeadingLevel.HEADING_1, keepNext: true }),
      new Paragraph({
        keepNext: true,
        children: [
          new TextRun({
            text:
              statusCounts(data)
                .map(([status, n]) => `${n} ${status}`)
                .join(' · ') || 'no steps recorded',
            bold: true,
          }),
        ],
      }),
    ],
  )
  pages.add(
    ...(charts ? chartsSection(charts) : []),
    new Paragraph({ text: 'Steps', heading: HeadingLevel.HEADING_1 }),
    ...data.steps.flatMap((step) => stepSection(step, repeated)),
  )
  finalContext(data, pages)
  pages.add(
    new Paragraph({ text: 'Analysis', heading: HeadingLevel.HEADING_1 }),
    ...(data.analysis?.summaryText ?? 'No analysis was recorded for this run.')
      .split('\n')
      .map((line) => new Paragraph({ text: line, bullet: { level: 0 } })),
    ...aiSection(data),
    new Paragraph({
      children: [
        new TextRun({
          text: `${data.history.count} ctx writes recorded; the full history is in report.xlsx (sheet History).`,
          italics: true,
          size: 18,
        }),
      ],
    }),
  )
  const document = new Document({
    creator: 'vitest-recipes',
    title: reportTitle(data),
    description: `Run ${data.run.runId} of ${data.run.recipe}`,
    styles: {
      default: {
        title: { run: { size: 44, bold: true }, paragraph: { spacing: { after: 80 } } },
        heading1: {
          run: { size: 30, bold: true, color: '1F3864' },
          paragraph: { spacing: { before: 360, after: 120 } },
        },
        heading2: {
          run: { size: 24, bold: true, color: '2F5496' },
          paragraph: { spacing: { before: 240, after: 60 } },
        },
      },
      paragraphStyles: [
        { id: TABLE_STYLE, name: 'Table text', basedOn: 'Normal', run: { font: TABLE_FONT, size: TABLE_SIZE } },
      ],
    },
    sections: pages.sections(),
  })
  return Packer.toBuffer(document)
}

/** The largest a chart is shown on a page, in pixels at 96 to the inch: the page's width, most of its height. */
const CHART_MAX = { width: 600, height: 820 }

/** Each chart as a picture with its caption, and a sentence for each chart that could not be drawn, saying why. */
function chartsSection(charts: DocumentCharts): Paragraph[] {
  const paragraphs = [new Paragraph({ text: 'Charts', heading: HeadingLevel.HEADING_1 })]
  charts.charts.forEach((chart, i) => {
    const scale = Math.min(1 / chart.scale, CHART_MAX.width / chart.width, CHART_MAX.height / chart.height)
    paragraphs.push(
      new Paragraph({
        keepNext: true,
        children: [
          new ImageRun({
            type: 'png',
            data: chart.png,
            transformation: { width: Math.round(chart.width * scale), height: Math.round(chart.height * scale) },
            altText: { name: chart.name, title: chart.title, description: chart.note ?? chart.title },
          }),
        ],
      }),
      new Paragraph({
        spacing: { after: 240 },
        children: [
          new TextRun({ text: `Figure ${i + 1}. ${chart.title}`, italics: true, size: 18 }),
          ...(chart.note ? [new TextRun({ text: ` (${chart.note})`, italics: true, size: 18 })] : []),
        ],
      }),
    )
  })
  for (const problem of charts.problems)
    paragraphs.push(
      new Paragraph({
        children: [new TextRun({ text: `${problem.title} could not be drawn: ${problem.error}`, italics: true })],
      }),
    )
  for (const note of charts.notes)
    paragraphs.push(new Paragraph({ children: [new TextRun({ text: note, italics: true, size: 18 })] }))
  return paragraphs
}

/** The final ctx under its heading: a table of its first keys, and a note saying how many more there are and where. */
function finalContext(data: RunData, pages: Pages): void {
  const heading = new Paragraph({ text: 'Final context', heading: HeadingLevel.HEADING_1, keepNext: true })
  if (data.context.length === 0) {
    pages.add(heading, new Paragraph({ children: [new TextRun({ text: 'empty', italics: true })] }))
    return
  }
  const { rows, leftOut } = listedContext(data)
  pages.addTable(
    layTable(
      [{ header: 'key' }, { header: 'value', wrap: true }, { header: 'who' }],
      rows.map((row) => [
        row.key,
        typeof row.value === 'object' && row.value !== null
          ? spacedJson(compactJson(row.value, 500))
          : compactJson(row.value, 500),
        row.who ?? '',
      ]),
    ),
    [heading],
    leftOut ? [new Paragraph({ children: [new TextRun({ text: leftOut, italics: true })] })] : [],
  )
}

/**
 * A step as a heading and labelled lines, not a table: a document for a 1,000-step run stays
 * a few seconds and a few hundred KiB to build (one table per step cost ~3 s and ~360 MiB).
 */
function stepSection(step: StepRow, repeated: (options: IRunOptions) => TextRun): Paragraph[] {
  const facts: [string, string][] = [
    ['status', step.status],
    ['duration', formatMs(step.durationMs)],
    ['CPU', formatMs(step.cpuMs)],
    ['peak RSS', formatBytes(step.peakRssBytes)],
    ['exit code', step.exitCode === null ? '' : String(step.exitCode)],
    ['attempts', String(step.attempts)],
  ]
  const lines: [string, string][] = []
  if (step.reason) lines.push(['reason', step.reason])
  if (step.attemptLog.length > 1) lines.push(['attempt log', describeAttempts(step)])
  const params = compactJson(step.params, 1000)
  if (params !== '{}' && params !== '[]') lines.push(['params', params])
  const outputs = stepOutputs(step.envelope)
  if (outputs.length > 0) lines.push(['outputs', listedOutputs(outputs)])
  const metrics = Object.entries(numericMetrics(step))
  if (metrics.length > 0) lines.push(['metrics', metrics.map(([name, value]) => `${name} = ${value}`).join(', ')])
  if (step.logPath) lines.push(['log', step.logPath])
  const color = STATUS_COLORS[step.status]
  return [
    new Paragraph({ text: `${step.idx}. ${step.step}`, heading: HeadingLevel.HEADING_2 }),
    new Paragraph({
      children: facts
        .filter(([, value]) => value !== '')
        .flatMap(([label, value], index) => [
          ...(index > 0 ? [repeated({ text: '  ·  ' })] : []),
          repeated({ text: `${label}: `, bold: true }),
          label === 'status'
            ? repeated({ text: value, ...(color ? { shading: shade(color) } : {}) })
            : repeated({ text: value }),
        ]),
    }),
    ...lines.map(
      ([label, value]) =>
        new Paragraph({ children: [repeated({ text: `${label}: `, bold: true }), new TextRun({ text: value })] }),
    ),
  ]
}

/**
 * A text run whose XML is worked out once per document however often it appears: the labels
 * and statuses every step section repeats. docx prepares each run anew at each use, which was
 * most of the time a 1,000-step document took.
 */
class RepeatedRun extends TextRun {
  private prepared: IXmlableObject | undefined

  override prepForXml(context: IContext): IXmlableObject | undefined {
    this.prepared ??= super.prepForXml(context)
    return this.prepared
  }
}

/** One RepeatedRun per distinct text and look, for one document. */
function repeatedRuns(): (options: IRunOptions) => TextRun {
  const runs = new Map<string, RepeatedRun>()
  return (options) => {
    const key = JSON.stringify(options)
    let run = runs.get(key)
    if (!run) runs.set(key, (run = new RepeatedRun(options)))
    return run
  }
}

/**
 * The document's sections: its pages run upright, and a table too wide for an upright page
 * gets pages of its own laid across (a section of landscape pages), its heading with it.
 */
class Pages {
  private readonly done: ISectionOptions[] = []
  private current: (Paragraph | Table)[] = []

  add(...children: (Paragraph | Table)[]): void {
    this.current.push(...children)
  }

  /** `laid` with the paragraphs that lead it (`before`: its heading) and follow it (`after`: its note), on the pages it fits. */
  addTable(laid: LaidTable, before: Paragraph[] = [], after: Paragraph[] = []): void {
    if (!laid.landscape) {
      this.add(...before, laid.table, ...after)
      return
    }
    this.flush()
    this.done.push({
      properties: { page: { size: { orientation: PageOrientation.LANDSCAPE } } },
      children: [...before, laid.table, ...after],
    })
  }

  sections(): ISectionOptions[] {
    this.flush()
    return this.done.length > 0 ? this.done : [{ children: [] }]
  }

  private flush(): void {
    if (this.current.length > 0) this.done.push({ children: this.current })
    this.current = []
  }
}

/** The AI summary under its own heading, marked as a suggestion (or why there is none). */
function aiSection(data: RunData): Paragraph[] {
  if (!data.analysis?.ai) return []
  const ai = aiSummaryBlock(data.analysis.ai)
  return [
    new Paragraph({ text: ai.title, heading: HeadingLevel.HEADING_2 }),
    ...ai.text.split('\n').map((line) => new Paragraph({ children: [new TextRun({ text: line, italics: true })] })),
  ]
}
