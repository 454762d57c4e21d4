import { expect, test } from 'vitest'
import { keepMatricesInEveryShard } from '../../plugin/compile/matrix-shard.ts'

interface Spec {
  moduleId: string
}

/** Vitest's sequencer as far as sharding goes: the i-th of every n files. */
class Sequencer {
  static count = 2
  static index = 1
  async shard(files: Spec[]): Promise<Spec[]> {
    return files.filter((_, i) => i % Sequencer.count === Sequencer.index - 1)
  }
  async sort(files: Spec[]): Promise<Spec[]> {
    return files
  }
}

const isMatrix = (file: string) => file.includes('matrix')

function shardedConfig(passWithNoTests?: boolean, projectHasMatrix?: boolean) {
  const config: { sequence: { sequencer: unknown }; passWithNoTests?: boolean } = {
    sequence: { sequencer: Sequencer },
    ...(passWithNoTests === undefined ? {} : { passWithNoTests }),
  }
  const hook = keepMatricesInEveryShard(config, isMatrix, projectHasMatrix)
  const Sharding = config.sequence.sequencer as new () => Sequencer
  return { config, hook, sequencer: new Sharding() }
}

test('matrix recipes are in every shard; the other files are sharded by the sequencer; once per config', async () => {
  const { config, hook, sequencer } = shardedConfig()
  expect(hook).toBeDefined()
  const files = ['a.yaml', 'matrix.yaml', 'b.yaml', 'c.yaml'].map((moduleId) => ({ moduleId }))
  expect((await sequencer.shard(files)).map((file) => file.moduleId)).toEqual(['a.yaml', 'c.yaml', 'matrix.yaml'])
  expect(keepMatricesInEveryShard(config, isMatrix)).toBeUndefined()
})

test("a run with a matrix recipe passes Vitest's fewer-files-than-shards check, from its start until sharded; the tests see the config's own value", async () => {
  const { config, hook, sequencer } = shardedConfig()
  expect(config.passWithNoTests).toBeFalsy()
  hook!.onTestRunStart([{ moduleId: 'recipes/matrix.yaml' }])
  // Vitest checks `shard.count > files` unless passWithNoTests, then shards.
  expect(config.passWithNoTests).toBe(true)
  await sequencer.shard([{ moduleId: 'recipes/matrix.yaml' }])
  expect(config.passWithNoTests).toBeFalsy()
  // A run without one is checked as Vitest checks it.
  hook!.onTestRunStart([{ moduleId: 'recipes/plain.yaml' }])
  expect(config.passWithNoTests).toBeFalsy()
})

test('the config saying passWithNoTests keeps it, before and after the run is sharded', async () => {
  const { config, hook, sequencer } = shardedConfig(true)
  hook!.onTestRunStart([{ moduleId: 'recipes/matrix.yaml' }])
  await sequencer.shard([{ moduleId: 'recipes/matrix.yaml' }])
  expect(config.passWithNoTests).toBe(true)
  config.passWithNoTests = false
  expect(config.passWithNoTests).toBe(false)
})

test('Vitest 5 checks the shard count before the run starts: a project with a matrix recipe passes it, and the run started after sharding keeps the config value', async () => {
  const { config, hook, sequencer } = shardedConfig(undefined, true)
  // Vitest 5: the check, then the sequencer's shard, then the run's start.
  expect(config.passWithNoTests).toBe(true)
  await sequencer.shard([{ moduleId: 'recipes/matrix.yaml' }])
  expect(config.passWithNoTests).toBeFalsy()
  hook!.onTestRunStart([{ moduleId: 'recipes/matrix.yaml' }])
  expect(config.passWithNoTests).toBeFalsy()
  // A project without a matrix recipe is checked as Vitest checks it.
  expect(shardedConfig(undefined, false).config.passWithNoTests).toBeFalsy()
})
