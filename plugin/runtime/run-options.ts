import { inject } from 'vitest'

import { RUN_OPTIONS_KEY, type RunOptions } from './spec.ts'

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
