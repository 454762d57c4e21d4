import type { AiOptions } from './ai-summary.ts'

/** How runs are analysed (the plugin option `analysis`). */
export interface AnalysisOptions {
  /** How many earlier runs of the same test_id are read for the comparison. @default 20 */
  history?: number
  /** Fewer earlier passing runs than this: no value is called an anomaly (5 at least). @default 5 */
  minRuns?: number
  /** |robust z| beyond which a figure is an anomaly. @default 3.5 */
  threshold?: number
  /** The optional AI summary (off unless given). */
  ai?: AiOptions | false
}

export const DEFAULT_ANALYSIS = { history: 20, minRuns: 5, threshold: 3.5 } as const
/** The least history anything is called an anomaly from. */
export const MIN_RUNS_FLOOR = 5
/** What is wrong with the plugin option `analysis`, one sentence per problem (none: it is valid). */
export function analysisProblems(analysis: unknown): string[] {
  if (analysis === undefined) return []
  if (analysis === null || typeof analysis !== 'object' || Array.isArray(analysis))
    return ['analysis must be an object { history, minRuns, threshold, ai }']
  const problems: string[] = []
  const { history, minRuns, threshold, ai } = analysis as Record<string, unknown>
  const count = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value > 0
  if (history !== undefined && !count(history))
    problems.push(`analysis.history must be a number of runs (1 or more), not ${JSON.stringify(history)}`)
  if (minRuns !== undefined && !(count(minRuns) && (minRuns as number) >= MIN_RUNS_FLOOR))
    problems.push(
      `analysis.minRuns must be ${MIN_RUNS_FLOOR} or more (fewer runs say too little to call a value an anomaly), not ${JSON.stringify(minRuns)}`,
    )
  if (threshold !== undefined && !(typeof threshold === 'number' && threshold > 0 && Number.isFinite(threshold)))
    problems.push(`analysis.threshold must be a positive number (3.5 is usual), not ${JSON.stringify(threshold)}`)
  if (ai !== undefined && ai !== false) problems.push(...aiProblems(ai))
  return problems
}

function aiProblems(ai: unknown): string[] {
  if (ai === null || typeof ai !== 'object' || Array.isArray(ai))
    return ['analysis.ai must be false or { endpoint, model, apiKeyEnv, timeoutMs }']
  const problems: string[] = []
  const { endpoint, model, apiKeyEnv, timeoutMs } = ai as Record<string, unknown>
  let url: URL | undefined
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : undefined
  } catch {}
  if (!url || !['http:', 'https:'].includes(url.protocol))
    problems.push(
      `analysis.ai.endpoint must be the http(s) base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:11434/v1), not ${JSON.stringify(endpoint)}`,
    )
  else if (url.username || url.password)
    problems.push(
      'analysis.ai.endpoint must not hold credentials: name the environment variable of the key in analysis.ai.apiKeyEnv',
    )
  if (typeof model !== 'string' || model === '')
    problems.push(`analysis.ai.model must name a model, not ${JSON.stringify(model)}`)
  if (apiKeyEnv !== undefined && !(typeof apiKeyEnv === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(apiKeyEnv)))
    problems.push(
      // Never echoed: a key pasted here by mistake must not reach the terminal or a CI log.
      'analysis.ai.apiKeyEnv must be the name of an environment variable, like LAB_AI_KEY (the key itself never goes in the config)',
    )
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && Number.isInteger(timeoutMs) && timeoutMs > 0))
    problems.push(`analysis.ai.timeoutMs must be a number of milliseconds, not ${JSON.stringify(timeoutMs)}`)
  return problems
}
