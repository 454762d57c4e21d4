import { expect, test } from 'vitest'
import { applyJsonPatch, diffJson, equalJson, freezeSharing } from '../../plugin/context/json-delta.ts'
import type { JsonValue } from '../../plugin/context/json-value.ts'

const item = (n: number) => ({ n, text: 'x'.repeat(1000) })

test('an append is one add of the item at the end', () => {
  const before = [item(0), item(1)]
  expect(diffJson(before, [...before, item(2)])).toEqual([{ op: 'add', path: '/-', value: item(2) }])
})

test('a change of one field of a large object is that field', () => {
  const ports = Object.fromEntries(Array.from({ length: 500 }, (_, n) => [`p${n}`, { speed: 100, up: true }]))
  const before = { ports, state: 'new' }
  const after = { ports: { ...ports, p7: { speed: 10, up: true } }, state: 'ready' }
  expect(diffJson(before, after)).toEqual([
    { op: 'replace', path: '/ports/p7/speed', value: 10 },
    { op: 'replace', path: '/state', value: 'ready' },
  ])
})

test.each<[string, JsonValue, JsonValue]>([
  ['equal values', { a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }],
  ['items cut from the end', [1, 2, 3, 4], [1, 2]],
  ['a field removed and one added', { a: 1, b: 2 }, { b: 2, c: 3 }],
  ['a kind changed', { a: [1] }, { a: { 0: 1 } }],
  ['the whole value replaced', [1, 2], 'text'],
  ['keys a pointer must escape', { 'a/b': 1, 'c~d': { '': 1 } }, { 'a/b': 2, 'c~d': { '': 2 } }],
  ['a field named __proto__', JSON.parse('{"__proto__":{"x":1}}'), JSON.parse('{"__proto__":{"x":2}}')],
  ['nulls and nesting', { a: null, b: [[1], [2]] }, { a: 0, b: [[1, 3], []] }],
])('applying the diff of %s gives the new value', (_label, before, after) => {
  const rebuilt = applyJsonPatch(before, diffJson(before, after))
  expect(equalJson(rebuilt, after)).toBe(true)
  expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(after))
})

test('applying a patch never changes the value it is applied to, and shares what it did not change', () => {
  const before = freezeSharing([item(0), item(1)])
  const after = applyJsonPatch(before, [{ op: 'add', path: '/-', value: item(2) }]) as JsonValue[]
  expect(before).toHaveLength(2)
  expect(after[0]).toBe(before[0])
})

test('a patch that does not fit the value is refused', () => {
  expect(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b/c', value: 1 }])).toThrow(
    "the patch's path /b/c is not in the value",
  )
  expect(() => applyJsonPatch([1], [{ op: 'remove', path: '/3' }])).toThrow("the patch's path /3 is not in the value")
})

test('freezeSharing copies and freezes a value, reusing the equal parts of the one it replaces', () => {
  const first = freezeSharing([item(0), item(1)])
  expect(Object.isFrozen(first) && Object.isFrozen(first[0])).toBe(true)
  const input = [item(0), item(1), item(2)]
  const second = freezeSharing(input, first)
  expect(second).not.toBe(input)
  expect(second[0]).toBe(first[0])
  expect(second[1]).toBe(first[1])
  expect(Object.isFrozen(second[2])).toBe(true)
  // Equal to the value it replaces: the same value.
  expect(freezeSharing([item(0), item(1)], first)).toBe(first)
  input[0]!.n = 99
  expect(second[0]!.n).toBe(0)
})
