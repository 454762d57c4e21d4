import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'
import recipes from './plugin/index.ts'

// This repository is also the example workspace: the plugin adds recipes/**/*.yaml to the
// test files, next to the unit and end-to-end tests under tests/.
export default defineConfig({
  plugins: [recipes()],
  test: {
    include: ['tests/**/*.test.ts'],
    // dist/ for process steps and the end-to-end tests, built if a fresh clone has none.
    globalSetup: ['./tests/ensure-dist.ts'],
    // End-to-end tests start real vitest / recipes processes and mostly wait for them: two test
    // files at a time even on 2 cores (Vitest's default there is one), which takes the suite
    // from about 9.8 to 6 minutes on this project's 2-core CI machine.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // End-to-end tests start real vitest / recipes processes.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ['default', 'junit'],
    outputFile: { junit: 'reports/junit.xml' },
  },
})
