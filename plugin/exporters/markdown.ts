import type { DocumentCharts } from '../charts/index.ts'
import { cutText, visibleText } from '../format/document-text.ts'
import { numericMetrics, type RunData } from '../store/run-data.ts'
import { describeAttempts, formatBytes, formatMs, statusCounts } from '../format/run-format.ts'
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

/** The run summary as Markdown: readable in a terminal, a CI job summary or a merge request. */
export function renderMarkdown(run: RunData, charts?: DocumentCharts): string {
  // Control characters as the other documents show them (a CI page shows a colour code as nothing, or as garbage).
  const data = readableRun(run, READ_TEXT_MAX)
  const out: string[] = [`# ${escapeCell(reportTitle(data))}`, '']
  out.push('| field | value |', '| --- | --- |')
  for (const [field, value] of titleFields(data)) out.push(`| ${escapeCell(field)} | ${escapeCell(value)} |`)
  out.push(
    '',
    `**${
      statusCounts(data)
        .map(([status, n]) => `${n} ${status}`)
        .join(' · ') || 'no steps recorded'
    }**`,
    '',
  )

  if (charts) out.push(...chartsSection(charts))
  out.push(
    '## Steps',
    '',
    '| # | step | status | duration | CPU | peak RSS | exit | attempts | reason |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  )
  for (const step of data.steps) {
    out.push(
      `| ${step.idx} | ${escapeCell(step.step)} | ${step.status} | ${formatMs(step.durationMs)} | ${formatMs(step.cpuMs)} | ${formatBytes(step.peakRssBytes)} | ${step.exitCode ?? ''} | ${step.attempts} | ${escapeCell(step.reason ?? '')} |`,
    )
  }
  const retried = data.steps.filter((step) => step.attemptLog.length > 1)
  if (retried.length > 0) {
    out.push('', '## Attempts', '')
    for (const step of retried) out.push(`- ${escapeCell(step.step)}: ${escapeCell(describeAttempts(step))}`)
  }
  const withMetrics = data.steps
    .map((step) => [step.step, numericMetrics(step)] as const)
    .filter(([, metrics]) => Object.keys(metrics).length > 0)
  if (withMetrics.length > 0) {
    out.push('', '## Metrics', '', '| step | metric | value |', '| --- | --- | ---: |')
    for (const [step, metrics] of withMetrics)
      for (const [name, value] of Object.entries(metrics))
        out.push(`| ${escapeCell(step)} | ${escapeCell(name)} | ${value} |`)
  }
  const outputs = data.steps.filter((step) => stepOutputs(step.envelope).length > 0)
  if (outputs.length > 0) {
    out.push('', '## Outputs', '')
    for (const step of outputs)
      out.push(`- **${escapeCell(step.step)}**: ${listedOutputs(stepOutputs(step.envelope), codeSpan)}`)
  }
  out.push('', '## Final context', '')
  if (data.context.length === 0) out.push('_empty_')
  else {
    const { rows, leftOut } = listedContext(data)
    out.push('| key | value | who | ts |', '| --- | --- | --- | --- |')
    for (const row of rows)
      out.push(
        `| ${codeSpan(row.key)} | ${escapeCell(compactJson(row.value, 200))} | ${escapeCell(row.who ?? '')} | ${row.ts ?? ''} |`,
      )
    if (leftOut) out.push('', `_${leftOut}_`)
  }
  if (data.analysis)
    out.push('', '## Analysis', '', ...data.analysis.summaryText.split('\n').map((line) => `- ${escapeCell(line)}`))
  if (data.analysis?.ai) {
    const ai = aiSummaryBlock(data.analysis.ai)
    out.push('', `### ${ai.title}`, '', ...ai.text.split('\n').map((line) => `> ${line}`))
  }
  out.push(
    '',
    `_${data.history.count} ctx write${data.history.count === 1 ? '' : 's'} recorded; the full history is in report.xlsx (sheet History) and the run store._`,
    '',
  )
  return out.join('\n')
}

/** The charts as images beside the document (charts/<name>.png), and those that could not be drawn, saying why. */
function chartsSection(charts: DocumentCharts): string[] {
  const out = ['## Charts', '']
  const { files } = charts
  for (const chart of charts.charts) {
    const caption = `${chart.title}${chart.note ? ` (${chart.note})` : ''}`
    out.push(files ? `![${escapeAlt(caption)}](${files}/${chart.name}.png)` : `- ${escapeCell(caption)}`, '')
  }
  for (const problem of charts.problems)
    out.push(`- _${escapeCell(`${problem.title} could not be drawn: ${problem.error}`)}_`)
  for (const note of charts.notes) out.push(`- _${escapeCell(note)}_`)
  if (charts.problems.length + charts.notes.length > 0) out.push('')
  return out
}

/** Keeps a caption inside an image's alt text. */
function escapeAlt(text: string): string {
  return text.replace(/[[\]\\]/g, '\\$&').replace(/\r?\n/g, ' ')
}

/**
 * Any text as a cell of a Markdown table (the matrix summary's too): shown as the documents
 * show text (visibleText), cut to `max` characters saying how long it was, kept in its cell.
 */
export function markdownCell(text: string, max = READ_TEXT_MAX): string {
  return escapeCell(cutText(visibleText(text), max))
}

/**
 * Keeps a text inside its table cell (or list item) and as it reads: its backslashes and `|`
 * escaped (a `\|` of the text stays a backslash and a bar), its line breaks as spaces.
 */
function escapeCell(text: string): string {
  return text.replace(/[\\|]/g, '\\$&').replace(/\r\n?|\n/g, ' ')
}

/**
 * `text` as a code span inside a table cell: fenced by more backticks than it holds in a row
 * (spaced off when it starts or ends with one), its `|` escaped (GFM reads `\|` as a bar in a
 * code span too), its line breaks as spaces.
 */
function codeSpan(text: string): string {
  const code = text
    .replace(/\\(?=\|)/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r\n?|\n/g, ' ')
  const fence = '`'.repeat(Math.max(0, ...[...code.matchAll(/`+/g)].map((run) => run[0].length)) + 1)
  const pad = code.startsWith('`') || code.endsWith('`') ? ' ' : ''
  return `${fence}${pad}${code}${pad}${fence}`
}
