import { inject } from 'vitest'

import { KEPT_STORES_KEY, type KeptStores } from '../store/kept-store.ts'
import { MAX_CONCURRENCY_KEY, RUN_OPTIONS_KEY, type RunOptions } from './spec.ts'

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

/** Vitest's default maxConcurrency: how many concurrent tests of a file run at once. */
const DEFAULT_MAX_CONCURRENCY = 5

/** How many tests of a file Vitest runs at once (its `maxConcurrency`), as the plugin provided it. */
export function readMaxConcurrency(): number {
  try {
    const provided = inject(MAX_CONCURRENCY_KEY as never) as unknown
    return typeof provided === 'number' && provided >= 1 ? provided : DEFAULT_MAX_CONCURRENCY
  } catch {
    return DEFAULT_MAX_CONCURRENCY
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
