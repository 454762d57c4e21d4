import { inject } from 'vitest'

/** What `recipes run` asks of this run, beyond what Vitest's own flags say. */
export interface RunOptions {
  /** Steps not to run (`--skip`). */
  skip: string[]
  /** Step to resume from (`--resume-from`): earlier steps do not run; ctx comes from the last run. */
  resumeFrom?: string
  /** Ignore cached step results (`--no-cache`); fresh results are still cached. */
  noCache: boolean
  /** Debug logs (`--debug`). */
  debug: boolean
}

/** The key under which `recipes run` provides its options to test workers. */
export const RUN_OPTIONS_KEY = 'vitestRecipesRunOptions'

const DEFAULTS: RunOptions = { skip: [], noCache: false, debug: false }

/** The options of this run: what `recipes run` provided, or the defaults under plain `vitest`. */
export function readRunOptions(): RunOptions {
  try {
    const provided = inject(RUN_OPTIONS_KEY as never) as Partial<RunOptions> | undefined
    return { ...DEFAULTS, ...provided }
  } catch {
    return DEFAULTS
  }
}
