import type { Context, ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { RecipeStepMeta, StepStatus } from './meta.ts'

/**
 * The ctx key under which the older framework's runner_v2 kept each step's figures. Its
 * scriptlets (resource_audit) read it, so the name stays as it was.
 */
export const STEP_METRICS_KEY = '_runner.step_metrics_v1'

/** The writer of STEP_METRICS_KEY in the ctx history. */
export const STEP_METRICS_WHO = '_runner'

/** Statuses of steps that did not run: they have no figures. */
const NOT_RUN: ReadonlySet<StepStatus> = new Set(['blocked', 'skipped', 'resumed'])

/**
 * Recipe option `step_metrics: true`: after each step that ran (passed, failed, cached, as
 * setup, an expected error), its figures go into ctx `_runner.step_metrics_v1[step]` —
 * `{status, duration_ms, cpu_ms, peak_rss_mb?, attempts}`, the numbers of the step's row in
 * the store — written by `_runner`. The write goes to the recipe's ctx itself, not through a
 * step's view of it, so the concurrent-writes check (which is about steps) never sees it:
 * parallel steps that end together each add their own entry. Every entry of this run is
 * also kept here and written again each time, so a retried parallel step that restores the
 * ctx to before its first attempt cannot drop the entries of steps that ended meanwhile.
 */
export class StepMetrics {
  private readonly entries = new Map<string, JsonObject>()

  /** Records `meta`'s figures in `ctx`; returns the write for the store, or undefined for a step that did not run. */
  record(ctx: Context, meta: RecipeStepMeta): ContextWrite | undefined {
    if (NOT_RUN.has(meta.status)) return undefined
    this.entries.set(meta.step, figuresOf(meta))
    // Entries already in ctx (restored by --resume-from from an earlier run) stay, this run's over them.
    const current = ctx.get(STEP_METRICS_KEY)
    const value: JsonObject = isObject(current) ? { ...current } : {}
    for (const [step, figures] of this.entries) value[step] = figures
    return ctx.set(STEP_METRICS_KEY, value, { who: STEP_METRICS_WHO })
  }
}

/** A step's figures as the store records them (duration and CPU in ms, peak RSS in MiB when measured). */
export function figuresOf(meta: RecipeStepMeta): JsonObject {
  const figures: JsonObject = {
    status: meta.status,
    duration_ms: finite(meta.durationMs),
    cpu_ms: finite(meta.cpuMs),
  }
  if (meta.peakRssBytes !== null) figures.peak_rss_mb = finite(meta.peakRssBytes) / 2 ** 20
  figures.attempts = meta.attempts.length
  return figures
}

/** The ctx a step's cache key covers: the runner's own figures change every run and are left out. */
export function withoutStepMetrics(context: JsonObject): JsonObject {
  if (!Object.hasOwn(context, STEP_METRICS_KEY)) return context
  const { [STEP_METRICS_KEY]: _figures, ...rest } = context
  return rest
}

function finite(value: number): number {
  return Number.isFinite(value) ? value : 0
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
