import { describe, expect, test } from 'vitest'
import {
  axisScale,
  byteUnit,
  durationUnit,
  formatNumber,
  formatQuantity,
  formatTick,
  metricQuantity,
} from '../../plugin/format/numbers.ts'
import { formatBytes } from '../../plugin/format/run-format.ts'

describe('formatNumber', () => {
  test('numbers as people write them: 30, 1.5 k, 2.5 M, 0.0015, -40; never exponent notation', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [30, '30'],
      [1.5, '1.5'],
      [999, '999'],
      [1000, '1 k'],
      [1500, '1.5 k'],
      [2.5e9, '2.5 G'],
      [123456789, '123 M'],
      [999_999, '1 M'],
      [0.001, '0.001'],
      [0.0015, '0.0015'],
      [0.00000123, '0.00000123'],
      [1.23e-7, '1.23 × 10⁻⁷'],
      [-2.5e-300, '-2.5 × 10⁻³⁰⁰'],
      [-40, '-40'],
      [-12.5, '-12.5'],
      [0.30000000000000004, '0.3'],
      [999e18, '999 E'],
      [1e21, '1 × 10²¹'],
      [9.9999e24, '1 × 10²⁵'],
      [1e300, '1 × 10³⁰⁰'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, '∞'],
    ]
    for (const [value, text] of cases) expect(formatNumber(value), String(value)).toEqual(text)
    for (const [value] of cases) expect(formatNumber(value)).not.toMatch(/e[+-]?\d/)
  })

  test('digits and thousands written out', () => {
    expect(formatNumber(2.328306, { digits: 4 })).toBe('2.328')
    expect(formatNumber(1500, { suffix: false })).toBe('1,500')
    expect(formatNumber(1234567.5, { suffix: false, digits: 9 })).toBe('1,234,567.5')
    expect(formatNumber(-1e6, { suffix: false })).toBe('-1,000,000')
  })
})

describe('units', () => {
  test("a metric's unit from the last word of its name", () => {
    expect(metricQuantity('ping_dut.resource_wait_ms')).toEqual({ kind: 'duration', perUnit: 1 })
    expect(metricQuantity('boot.time_s')).toEqual({ kind: 'duration', perUnit: 1000 })
    expect(metricQuantity('dut.latency_us')).toEqual({ kind: 'duration', perUnit: 0.001 })
    expect(metricQuantity('checksum_artifact.bytes')).toEqual({ kind: 'bytes' })
    expect(metricQuantity('port_a.GBPS')).toEqual({ kind: 'unit', unit: 'Gbps' })
    expect(metricQuantity('cpu_pct')).toEqual({ kind: 'unit', unit: '%' })
    expect(metricQuantity('mem_mib')).toEqual({ kind: 'unit', unit: 'MiB' })
    for (const name of ['interfaces', 'count', 'mean', 'items', 'status', ''])
      expect(metricQuantity(name), name).toEqual({ kind: 'number' })
  })

  test('durations in ms, s, min, h; bytes in binary units (1024 apart), each picked by the largest value', () => {
    expect(durationUnit(999)).toEqual({ unit: 'ms', per: 1 })
    expect(durationUnit(1000)).toEqual({ unit: 's', per: 1000 })
    expect(durationUnit(119_999)).toEqual({ unit: 's', per: 1000 })
    expect(durationUnit(120_000)).toEqual({ unit: 'min', per: 60_000 })
    expect(durationUnit(3 * 3_600_000)).toEqual({ unit: 'h', per: 3_600_000 })
    expect(byteUnit(1023)).toEqual({ unit: 'B', per: 1 })
    expect(byteUnit(1024)).toEqual({ unit: 'KiB', per: 1024 })
    expect(byteUnit(2.5e9)).toEqual({ unit: 'GiB', per: 1024 ** 3 })
    expect(axisScale({ kind: 'duration', perUnit: 1 }, 2500)).toEqual({ unit: 's', factor: 0.001 })
    expect(axisScale({ kind: 'bytes' }, 3 * 1024 ** 2)).toEqual({ unit: 'MiB', factor: 1 / 1024 ** 2 })
    expect(axisScale({ kind: 'unit', unit: 'Gbps' }, 9.4)).toEqual({ unit: 'Gbps', factor: 1 })
    expect(axisScale({ kind: 'number' }, 1e9)).toEqual({ unit: '', factor: 1 })
  })

  test('a value with its unit, and a tick in its axis unit', () => {
    expect(formatQuantity(30, { kind: 'duration', perUnit: 1 })).toBe('30 ms')
    expect(formatQuantity(2500, { kind: 'duration', perUnit: 1 })).toBe('2.5 s')
    expect(formatQuantity(2.5e9, { kind: 'bytes' })).toBe('2.328 GiB')
    expect(formatQuantity(9.4, { kind: 'unit', unit: 'Gbps' })).toBe('9.4 Gbps')
    expect(formatQuantity(97.5, { kind: 'unit', unit: '%' })).toBe('97.5 %')
    expect(formatQuantity(1500, { kind: 'number' })).toBe('1.5 k')
    expect(formatTick(1500, '')).toBe('1.5 k')
    expect(formatTick(1000, 'ms')).toBe('1,000')
    expect(formatTick(0.25, 's')).toBe('0.25')
    expect(formatTick(30, '')).toBe('30')
  })

  test("the tables' sizes are in the same binary units as the charts' axes", () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(2.5e9)).toBe('2.3 GiB')
    expect(formatBytes(3 * 1024 ** 4)).toBe('3.0 TiB')
    expect(formatBytes(null)).toBe('not measured')
  })
})
