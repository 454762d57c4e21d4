import type { TestContext } from 'vitest'

/** The Vitest test a step runs in: the one its output is filed under. */
export type StepTest = TestContext['task']

/** The part of Vitest's worker state its console reads (`globalThis.__vitest_worker__`). */
interface WorkerState {
  current?: unknown
}

/**
 * Runs `print` (a call of Vitest's console) with its lines filed under `test`.
 *
 * Vitest's console files each line under the test its worker state calls `current`: the test
 * that started last, set when a test starts and reset when one ends (the same on 4.1 and 5.1).
 * That is right for tests that run one after another, and wrong for the steps of a parallel
 * group, which run side by side as concurrent tests of one file: a step's lines would land
 * under whichever step started last, in the terminal and in JUnit's <system-out>. Vitest's
 * console reads `current` synchronously as a line is written, so pointing it at the step's
 * test for the length of the call files the line there; it is put back at once.
 *
 * Outside a Vitest worker (the `recipes step` CLI), or without a test, `print` runs as is.
 */
export function printUnderTest<T>(test: StepTest | undefined, print: () => T): T {
  const state = (globalThis as { __vitest_worker__?: WorkerState }).__vitest_worker__
  if (test === undefined || typeof state !== 'object' || state === null || state.current === test) return print()
  const running = state.current
  state.current = test
  try {
    return print()
  } finally {
    state.current = running
  }
}
