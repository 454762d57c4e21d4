import { inject } from 'vitest'

import { KEPT_STORES_KEY, type KeptStores } from '../store/kept-store.ts'
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

/** The stores the Vitest process keeps for this run (it ingests their journals); none when it keeps none. */
export function readKeptStores(): KeptStores {
  try {
    return (inject(KEPT_STORES_KEY as never) as KeptStores | undefined) ?? {}
  } catch {
    return {}
  }
}
