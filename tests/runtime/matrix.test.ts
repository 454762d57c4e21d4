import { expect, test } from 'vitest'
import { matrixShardOf } from '../../plugin/compile/vite-plugin.ts'
import { defineMatrix } from '../../plugin/runtime/index.ts'
import { combinationRunNames } from '../../plugin/recipe/matrix.ts'
import { createRunId } from '../../plugin/runtime/spec.ts'

test('at most `parallel` combinations run at once; a leaving one hands its turn to the next', async () => {
  const matrix = defineMatrix(2)
  let running = 0
  let most = 0
  const order: number[] = []
  await Promise.all(
    [0, 1, 2, 3, 4].map(async (i) => {
      await matrix.enter()
      running++
      most = Math.max(most, running)
      order.push(i)
      await matrix.leave(
        new Promise<void>((done) =>
          setTimeout(() => {
            running--
            done()
          }, 20),
        ),
      )
    }),
  )
  expect(most).toBe(2)
  expect(order).toEqual([0, 1, 2, 3, 4])
})

test('a failed finish still hands the turn on', async () => {
  const matrix = defineMatrix(1)
  await matrix.enter()
  await expect(matrix.leave(Promise.reject(new Error('store down')))).rejects.toThrow('store down')
  await matrix.enter()
})

test("a combination's run id names its values, readable and safe as a folder name", () => {
  const now = new Date('2026-12-06T15:00:00Z')
  const [name] = combinationRunNames([{ dut: 'rack1-sw2', speed: 10 }])
  expect(createRunId('recipes/device.yaml', now, 'ab12', name)).toBe(
    '20261206T150000Z-device-dut_rack1-sw2_speed_10-ab12',
  )
  // What a folder name cannot hold is dropped, and a hash of the values keeps the name the combination's own.
  const [lossy] = combinationRunNames([{ dut: 'rack1/sw 2', speed: 10 }])
  expect(createRunId('recipes/device.yaml', now, 'ab12', lossy)).toMatch(
    /^20261206T150000Z-device-dut_rack1_sw_2_speed_10-[0-9a-f]{6}-ab12$/,
  )
  expect(createRunId('recipes/device.yaml', now, 'ab12')).toBe('20261206T150000Z-device-ab12')
})

test('RECIPES_MATRIX_SHARD reads i/n, and says what is wrong with anything else', () => {
  expect(matrixShardOf(undefined)).toBeUndefined()
  expect(matrixShardOf(' 2/3 ')).toEqual({ index: 2, count: 3 })
  for (const bad of ['0/2', '3/2', 'x', '1/0'])
    expect(matrixShardOf(bad)).toMatch(/RECIPES_MATRIX_SHARD=".*" is not a shard: write i\/n/)
})
