import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { StepContext } from '../../plugin/context/step-context.ts'
import { leaseCtxFile, removeCtxFiles } from '../../plugin/executors/ctx-file.ts'

afterEach(() => removeCtxFiles())

const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'))

test('steps with an unchanged context share one file named ctx.json, which holds the context', () => {
  const ctx = new Context({ 'lab.seed_v1': 41, 'lab.user_v1': { name: 'bob' } })
  const first = leaseCtxFile(new StepContext(ctx))
  first.release()
  const second = leaseCtxFile(new StepContext(ctx))
  expect(second.path).toBe(first.path)
  expect(second.path.endsWith('/ctx.json')).toBe(true)
  expect(read(second.path)).toEqual({ 'lab.seed_v1': 41, 'lab.user_v1': { name: 'bob' } })
  second.release()
})

test('a changed context is written to the file before the next step reads it', () => {
  const ctx = new Context({ 'lab.seed_v1': 41 })
  const first = leaseCtxFile(new StepContext(ctx))
  first.release()
  ctx.set('lab.seed_v1', 42, { who: 'step' })
  ctx.set('lab.more_v1', 'x'.repeat(10), { who: 'step' })
  const second = leaseCtxFile(new StepContext(ctx))
  expect(read(second.path)).toEqual({ 'lab.seed_v1': 42, 'lab.more_v1': 'xxxxxxxxxx' })
  second.release()
  // Shorter content after longer: nothing of the old text is left at the end.
  const smaller = new Context({ 'lab.a_v1': 1 })
  const third = leaseCtxFile(new StepContext(smaller))
  expect(read(third.path)).toEqual({ 'lab.a_v1': 1 })
  third.release()
})

test('a step still running keeps its file as it was: a step that starts with another context gets another file', () => {
  const ctx = new Context({ 'lab.seed_v1': 41 })
  const running = leaseCtxFile(new StepContext(ctx))
  ctx.set('lab.seed_v1', 42, { who: 'parallel' })
  const next = leaseCtxFile(new StepContext(ctx))
  expect(next.path).not.toBe(running.path)
  expect(read(running.path)).toEqual({ 'lab.seed_v1': 41 })
  expect(read(next.path)).toEqual({ 'lab.seed_v1': 42 })
  // A third step with the same context as the second shares its file.
  const third = leaseCtxFile(new StepContext(ctx))
  expect(third.path).toBe(next.path)
  for (const lease of [running, next, third]) lease.release()
})

test('a file a step changed, removed or replaced is written anew for the next step', () => {
  const ctx = new Context({ 'lab.seed_v1': 41 })
  const lease = leaseCtxFile(new StepContext(ctx))
  lease.release()
  writeFileSync(lease.path, '{"lab.seed_v1": 99999}')
  const afterChange = leaseCtxFile(new StepContext(ctx))
  expect(read(afterChange.path)).toEqual({ 'lab.seed_v1': 41 })
  afterChange.release()

  rmSync(afterChange.path)
  const afterRemoval = leaseCtxFile(new StepContext(ctx))
  expect(read(afterRemoval.path)).toEqual({ 'lab.seed_v1': 41 })
  afterRemoval.release()

  // A symlink in its place is not followed: the context is never written to where it points.
  const elsewhere = `${dirname(dirname(afterRemoval.path))}/elsewhere.json`
  writeFileSync(elsewhere, 'untouched')
  rmSync(afterRemoval.path)
  symlinkSync(elsewhere, afterRemoval.path)
  const afterSymlink = leaseCtxFile(new StepContext(ctx))
  expect(read(afterSymlink.path)).toEqual({ 'lab.seed_v1': 41 })
  expect(readFileSync(elsewhere, 'utf8')).toBe('untouched')
  afterSymlink.release()
})

test('removeCtxFiles removes every file and its private folder', () => {
  const ctx = new Context({ 'lab.seed_v1': 41 })
  const one = leaseCtxFile(new StepContext(ctx))
  ctx.set('lab.seed_v1', 42, { who: 'parallel' })
  const two = leaseCtxFile(new StepContext(ctx))
  one.release()
  two.release()
  const folder = dirname(dirname(one.path))
  expect(existsSync(folder)).toBe(true)
  removeCtxFiles()
  expect(existsSync(folder)).toBe(false)
  // The next recipe file starts a new folder.
  const later = leaseCtxFile(new StepContext(ctx))
  expect(dirname(dirname(later.path))).not.toBe(folder)
  later.release()
})
