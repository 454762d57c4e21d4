import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

// The Allure results folder and its neighbours, without the writer (allure.ts loads
// allure-js-commons, and is loaded only when results are written).

/** Where the plugin writes Allure results unless the option `allure.resultsDir` says otherwise (relative to the root). */
export const DEFAULT_ALLURE_RESULTS_DIR = 'reports/allure-results'
/** The folder `recipes report --format allure` writes a stored run's results to, inside `<reports>/<run_id>/`. */
export const RUN_ALLURE_RESULTS = 'allure-results'
/** The Allure 3 config written beside a results folder when none is there: history and report location. */
export const ALLURE_CONFIG_FILE = 'allurerc.mjs'

/** Result files a results folder holds (Allure's own names); other files there are left alone. */
const RESULT_FILE =
  /^(.+-(result|container|globals)\.json|.+-attachment(\..+)?|environment\.properties|executor\.json|categories\.json)$/

/**
 * Empties a results folder of the results written there before (one folder holds one launch:
 * results of an earlier run left there would read as retries of this one's); a missing
 * folder is fine.
 */
export function clearAllureResults(resultsDir: string): void {
  if (!existsSync(resultsDir)) return
  for (const file of readdirSync(resultsDir))
    if (RESULT_FILE.test(file)) rmSync(join(resultsDir, file), { force: true })
}

/**
 * Writes `allurerc.mjs` beside the results folder unless one is there: `npx allure generate
 * --config <it>` then reads these results, keeps Allure's history (trends across runs) in
 * `allure-history.jsonl` and writes the report to `allure-report/` (replacing the earlier
 * one), all beside it, from any working folder.
 */
export function writeAllureConfig(resultsDir: string): void {
  const file = join(dirname(resultsDir), ALLURE_CONFIG_FILE)
  if (existsSync(file)) return
  mkdirSync(resultsDir, { recursive: true })
  const results = JSON.stringify(basename(resultsDir))
  writeFileSync(
    file,
    `// Written by vitest-recipes beside its Allure results; yours to edit (it is never overwritten).
// npx allure generate --config <this file>: a report of the results, with the history of the earlier ones.
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

// Allure 3 lays a report out in its output folder only when the folder is empty (an earlier
// report there stays, and its index.html with it): generate removes the earlier one first.
if (process.argv.includes('generate')) rmSync(here('allure-report'), { recursive: true, force: true })

export default {
  name: 'vitest-recipes',
  resultsDir: here(${results}),
  output: here('allure-report'),
  historyPath: here('allure-history.jsonl'),
}
`,
  )
}
