import { expect, test, vi } from 'vitest'
import { sampleStepResources } from '../../plugin/executors/resource-sampler.ts'

// What a flood of connections did to a worker (tests/e2e/connection-flood.test.ts): no file
// descriptor left, so /proc could not be listed. A sample that cannot read /proc is skipped.
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>()
  return {
    ...fs,
    readdirSync: (path: string, ...rest: unknown[]) => {
      if (path === '/proc')
        throw Object.assign(new Error("EMFILE: too many open files, scandir '/proc'"), { code: 'EMFILE' })
      return (fs.readdirSync as (...args: unknown[]) => unknown)(path, ...rest)
    },
  }
})

test('sampling while /proc cannot be listed throws nothing, from its timer or from stop()', async () => {
  const usage = sampleStepResources({ root: process.pid, rootStartTime: undefined, token: 'no-such-token' })
  await new Promise((resolve) => setTimeout(resolve, 150))
  expect(usage.stop()).toMatchObject({ samples: 0 })
})
