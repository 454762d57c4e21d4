import type { Reporter, TestModule, TestSpecification, Vitest } from 'vitest/node'
// Light (no database driver): the store itself is imported when a run needs it.
import { ingestJournals } from '../store/ingest.ts'
import { KEPT_STORES_KEY, type KeptStores, locateStore } from '../store/kept-store.ts'
import type { RunStore } from '../store/run-store.ts'
import { collectRuns, recordMissedSteps } from './collected-runs.ts'
import { LockService } from './lock-service.ts'

/** How often a running Vitest stores what its recipe files journaled, for readers of the store meanwhile. */
const INGEST_INTERVAL_MS = 1000

/**
 * Keeps the run store for a Vitest run, in the Vitest process, so recipe files never open
 * SQLite: when a run with recipe files starts, it opens (creates, migrates, checks) the
 * store and tells the files so (`provide`); they append each step to their run's journal
 * (store/journal.ts), and this stores the journals when each file ends, every second
 * meanwhile, and at the end. A store that cannot be opened is told to the files, whose runs
 * then do not start, with its message. `vitest list` starts no run: nothing is opened.
 */
export class StoreKeeper implements Reporter {
  /** How the plugin recognises a keeper already added for a store. */
  readonly name = 'vitest-recipes-store'
  readonly root: string
  readonly db: string
  private readonly isRecipe: (file: string) => boolean
  private vitest: Vitest | undefined
  private store: RunStore | undefined
  private locks: LockService | undefined
  private lockAddress: { url: string; token: string } | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly reported = new Set<string>()

  constructor(root: string, db: string, isRecipe: (file: string) => boolean) {
    this.root = root
    this.db = db
    this.isRecipe = isRecipe
  }

  onInit(vitest: Vitest): void {
    this.vitest = vitest
  }

  async onTestRunStart(specifications: ReadonlyArray<TestSpecification>): Promise<void> {
    const recipeFiles = specifications.filter((specification) => this.isRecipe(specification.moduleId))
    if (recipeFiles.length === 0) return
    const located = locateStore(this.root, this.db)
    const { path } = located
    let kept: KeptStores[string] = { vitestVersion: this.vitest?.version ?? 'unknown' }
    if (!this.store) {
      try {
        const { RunStore } = await import('../store/run-store.ts')
        this.store = await RunStore.openLocated(located)
        this.locks = new LockService(this.store)
        this.lockAddress = await this.locks.start()
        this.timer = setInterval(() => this.tick(), INGEST_INTERVAL_MS)
        this.timer.unref()
      } catch (error) {
        kept = { error: (error as Error).message }
      }
    }
    if (this.lockAddress && kept.error === undefined) kept.locks = this.lockAddress
    for (const project of new Set(recipeFiles.map((specification) => specification.project))) {
      const provide = project.provide as unknown as (key: string, value: KeptStores) => void
      const already = (project.getProvidedContext() as Record<string, unknown>)[KEPT_STORES_KEY] as
        | KeptStores
        | undefined
      provide.call(project, KEPT_STORES_KEY, { ...already, [path]: kept })
    }
  }

  async onTestModuleEnd(module: TestModule): Promise<void> {
    // Only over journals stored whole: a store that refused them (locked, full) has said so already.
    if (await this.ingest()) await this.recordMissed(module)
    await this.guardLocks(() => this.locks?.fileEnded(module.moduleId))
  }

  async onTestRunEnd(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.ticking
    await this.ingest()
    await this.locks?.close()
    this.locks = undefined
    this.lockAddress = undefined
    await this.store?.close()
    this.store = undefined
  }

  /** The tick running now, if any: the next one is skipped rather than queued behind it. */
  private ticking: Promise<void> | undefined

  /** Every second: what the journals hold goes to the store, and the resource leases are renewed. */
  private tick(): void {
    if (this.ticking) return
    this.ticking = (async () => {
      await this.ingest()
      await this.guardLocks(() => this.locks?.heartbeat())
    })().finally(() => {
      this.ticking = undefined
    })
  }

  /** A lock operation the store refused: said once; the holds then expire by themselves. */
  private async guardLocks(operation: () => Promise<void> | undefined): Promise<void> {
    try {
      await operation()
    } catch (error) {
      const message = `vitest-recipes: the run store could not renew or release lab resource locks: ${(error as Error).message}`
      if (this.reported.has(message)) return
      this.reported.add(message)
      this.vitest?.logger.error(message)
    }
  }

  /**
   * The steps of the module's runs whose records the journal refused (a disk that filled), and
   * their end, stored from the tests' meta (collected-runs.ts): every step that started has its row.
   */
  private async recordMissed(module: TestModule): Promise<void> {
    const store = this.store
    if (!store) return
    try {
      for (const [runId, run] of collectRuns([module])) await recordMissedSteps(store, runId, run)
    } catch (error) {
      this.fail(
        `vitest-recipes: the run store could not store the steps the run journal missed: ${(error as Error).message}. Their results are in this Vitest run's test results (the failed tests say why)`,
      )
    }
  }

  /** Stores what the journals hold so far; a store that refuses it fails the Vitest run, and the journals stay. */
  private async ingest(): Promise<boolean> {
    const store = this.store
    if (!store) return false
    try {
      await ingestJournals(store)
      return true
    } catch (error) {
      this.fail(
        `vitest-recipes: the run store could not store what the recipe files recorded: ${(error as Error).message}. Nothing is lost: the records stay in ${store.path}.pending/ and are stored when the store next opens (any recipes command, or the next run)`,
      )
      return false
    }
  }

  /** A problem of the store that fails the Vitest run: said once, as an error of the run. */
  private fail(message: string): void {
    if (this.reported.has(message)) return
    this.reported.add(message)
    const state = (this.vitest as { state?: { catchError?: (error: unknown, type: string) => void } } | undefined)
      ?.state
    // The message says it all: a stack into the keeper would only hide it.
    const problem = Object.assign(new Error(message), { stack: message })
    if (state?.catchError) state.catchError(problem, 'Unhandled Error')
    else this.vitest?.logger.error(message)
    process.exitCode = 1
  }
}
