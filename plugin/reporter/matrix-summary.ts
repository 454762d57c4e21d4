import { createHash } from 'node:crypto'
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { basename, dirname, extname, join, posix } from 'node:path'
import { type RecipeStepMeta, runStatusOf } from '../runtime/meta.ts'
import { markdownCell } from '../exporters/markdown.ts'

/** One combination of a matrix recipe as its file ended: its group's name and the records of its steps that ran. */
export interface CombinationResult {
  label: string
  /** The records of its steps (none: the combination did not run: -t, another shard). */
  steps: readonly RecipeStepMeta[]
}

/**
 * One matrix recipe's combinations from several copies of its file: at --merge-reports each
 * shard's blob holds the whole file, the combinations it ran with their steps and the others
 * not run. Each combination takes its steps from the first copy that ran it; the order is the
 * first copy's, then any combination only a later copy lists.
 */
export function combineShardCopies(copies: readonly (readonly CombinationResult[])[]): CombinationResult[] {
  const combined = new Map<string, CombinationResult>()
  for (const copy of copies)
    for (const combination of copy) {
      const known = combined.get(combination.label)
      if (!known || (known.steps.length === 0 && combination.steps.length > 0))
        combined.set(combination.label, combination)
    }
  return [...combined.values()]
}

/**
 * The lines that put a matrix recipe's combinations side by side once its file has ended:
 * each one's outcome, what its steps came to and its run id (`recipes report <run_id>`).
 */
export function matrixSummaryLines(recipe: string, combinations: readonly CombinationResult[]): string[] {
  const { outcomes, totals } = outcomesOf(combinations)
  const width = Math.max(...combinations.map(({ label }) => label.length))
  const lines = [` vitest-recipes  matrix ${recipe}: ${combinations.length} combinations, ${totals.join(', ')}`]
  combinations.forEach(({ label, steps }, i) => {
    const outcome = outcomes[i]!
    if (steps.length === 0) {
      lines.push(`   ${label.padEnd(width)}  ${outcome}`)
      return
    }
    lines.push(`   ${label.padEnd(width)}  ${outcome.padEnd(7)}  ${stepCounts(steps).padEnd(24)}  ${steps[0]!.runId}`)
  })
  return lines
}

/** Each combination's outcome (`not run` when none of its steps ran), and how many of each. */
function outcomesOf(combinations: readonly CombinationResult[]): { outcomes: string[]; totals: string[] } {
  const outcomes = combinations.map(({ steps }) =>
    steps.length === 0 ? 'not run' : runStatusOf(steps.map((step) => step.status)),
  )
  const counts = new Map<string, number>()
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
  const totals = ['passed', 'failed', 'blocked', 'not run']
    .filter((outcome) => counts.has(outcome))
    .map((outcome) => `${counts.get(outcome)} ${outcome}`)
  return { outcomes, totals }
}

/** What a combination's steps came to: `2 passed, 1 failed`. */
function stepCounts(steps: readonly RecipeStepMeta[]): string {
  const byStatus = new Map<string, number>()
  for (const step of steps) byStatus.set(step.status, (byStatus.get(step.status) ?? 0) + 1)
  return [...byStatus].map(([status, count]) => `${count} ${status}`).join(', ')
}

/**
 * The matrix's summary as Markdown: every combination's outcome side by side, what its steps
 * came to, its run and links to that run's documents (in `<reports>/<run_id>/`: `toReports` is
 * the way from the summary's folder to the reports folder, `''` when it is that folder), and
 * the reason of its first step that did not pass.
 */
export function matrixSummaryMarkdown(
  recipe: string,
  combinations: readonly CombinationResult[],
  toReports = '',
): string {
  const { outcomes, totals } = outcomesOf(combinations)
  const lines = [
    `# Matrix ${recipe}`,
    '',
    `${combinations.length} combinations: ${totals.join(', ')}.`,
    '',
    '| combination | outcome | steps | run | documents | first reason |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  combinations.forEach(({ label, steps }, i) => {
    const runId = steps[0]?.runId
    const reason = steps.find((step) => step.status !== 'passed' && step.reason)?.reason
    lines.push(
      `| ${markdownCell(label)} | ${outcomes[i]} | ${stepCounts(steps)} | ${runId ?? ''} | ${
        runId ? `[html](${toReports}${runId}/report.html) · [md](${toReports}${runId}/report.md)` : ''
      } | ${reason ? markdownCell(reason, 200) : ''} |`,
    )
  })
  return `${lines.join('\n')}\n`
}

/**
 * Where a matrix recipe's summary goes, relative to the reports folder (`recipe` relative to
 * the project, with `/`): `matrix-<name>.md` for a recipe in `recipes/` (the usual folder), and
 * for any other `matrix/<its path>.md` (`recipes/lab1/switch.yaml` → `matrix/recipes/lab1/switch.yaml.md`),
 * so that two recipes of one name in two folders never write over each other's summary.
 */
export function matrixSummaryPath(recipe: string): string {
  if (posix.dirname(recipe) === 'recipes') return `matrix-${basename(recipe, extname(recipe))}.md`
  // A recipe outside the project (`../lab/x.yaml`) has its own folder, named from its whole path.
  const segments = recipe.split('/')
  if (posix.isAbsolute(recipe) || segments.includes('..'))
    return posix.join(
      'matrix',
      '_outside',
      createHash('sha256').update(recipe).digest('hex').slice(0, 12),
      `${posix.basename(recipe)}.md`,
    )
  return posix.join('matrix', `${recipe}.md`)
}

/**
 * Writes the matrix's summary in the reports folder at matrixSummaryPath (replaced at each run
 * of the matrix, as reports/junit.xml is): the file's path.
 */
export function writeMatrixSummary(
  reportsDir: string,
  recipe: string,
  combinations: readonly CombinationResult[],
): string {
  const path = matrixSummaryPath(recipe)
  const file = join(reportsDir, path)
  mkdirSync(dirname(file), { recursive: true })
  const temporary = `${file}.${process.pid}.tmp`
  const toReports = '../'.repeat(path.split('/').length - 1)
  writeFileSync(temporary, matrixSummaryMarkdown(recipe, combinations, toReports))
  renameSync(temporary, file)
  return file
}
