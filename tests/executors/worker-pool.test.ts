import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { CpuWorkerPool } from '../../plugin/executors/worker-pool.ts'
import { FIXTURES, stepInput } from './steps.ts'

const pool = new CpuWorkerPool('error')
afterAll(() => pool.close())

test('a worker-thread step reports its CPU time, and its peak memory as not measured rather than 0', {
  timeout: 20_000,
}, async () => {
  const input = stepInput({
    name: 'primes',
    type: 'ts',
    export: 'CountPrimes',
    params: { limit: 200_000, key: 'primes.count_v1' },
  })
  const { envelope, resources } = await pool.runStep(join(FIXTURES, 'scriptlets/timing.ts'), input)
  expect(envelope).toMatchObject({ status: 'ok' })
  expect(input.stepCtx.get('primes.count_v1')).toBe(17_984)
  expect(resources.cpuMs).toBeGreaterThan(0)
  // A thread shares its process's memory: 0 would read as "used nothing".
  expect(resources).toMatchObject({ peakRssMeasured: false })
})
