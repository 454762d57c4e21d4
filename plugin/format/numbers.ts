/**
 * Numbers as people write them, wherever a run shows one (chart axes, chart captions, the
 * documents): 30, 1.5 k, 0.0015, -40; never 3e+1. A quantity with a unit is shown in one
 * unit picked from its size: durations in ms, s, min or h; bytes in binary units (B, KiB,
 * MiB, GiB, TiB: 1024 apart, as the tables and the messages write sizes). Below the charts
 * and the exporters alike.
 */

/** Suffixes of thousands for numbers without a unit: 1.5 k, 2.5 M, 3 G. */
const THOUSANDS = ['', ' k', ' M', ' G', ' T', ' P', ' E']

export interface NumberStyle {
  /** Significant digits kept at most (trailing zeros dropped): 3 unless told. */
  digits?: number
  /** Thousands as a suffix (1.5 k) rather than written out with separators (1,500): true unless told. */
  suffix?: boolean
}

/**
 * A number for people: `30`, `1.5 k`, `2.5 M`, `0.0015`, `-40`, `1,500` (suffix: false); at
 * most `digits` significant digits, never exponent notation (1e+21 and more, or less than a
 * millionth, read `1 × 10²¹`, `1.2 × 10⁻⁷`). Not finite: `NaN`, `∞`, `-∞`.
 */
export function formatNumber(value: number, style: NumberStyle = {}): string {
  if (Number.isNaN(value)) return 'NaN'
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞'
  const digits = Math.max(1, Math.min(15, style.digits ?? 3))
  const sign = value < 0 ? '-' : ''
  let magnitude = Math.abs(value)
  // Beyond the suffixes, and below a millionth: a power of ten as people write it, 2.5 × 10²⁴.
  if (magnitude >= 1e21 || (magnitude > 0 && Number(roundTo(magnitude, digits)) < 1e-6)) {
    const exponent = Math.floor(Math.log10(magnitude))
    let mantissa = roundTo(magnitude / 10 ** exponent, digits)
    let power = exponent
    if (Number(mantissa) >= 10) {
      mantissa = roundTo(Number(mantissa) / 10, digits)
      power++
    }
    return `${sign}${mantissa} × 10${superscript(power)}`
  }
  let power = 0
  if (style.suffix ?? true) {
    // Rounding can carry into the next thousand (999,999 → 1000 k): divide again when it does.
    while (power < THOUSANDS.length - 1 && Number(roundTo(magnitude, digits)) >= 1000) {
      magnitude /= 1000
      power++
    }
  }
  const text = roundTo(magnitude, digits)
  if (Number(text) === 0) return '0'
  return `${sign}${(style.suffix ?? true) ? text : grouped(text)}${THOUSANDS[power]}`
}

/** An exponent in superscript digits: ²⁴, ⁻⁷. */
function superscript(n: number): string {
  return String(n).replace(/[-\d]/g, (char) => '⁻⁰¹²³⁴⁵⁶⁷⁸⁹'['-0123456789'.indexOf(char)]!)
}

/** `magnitude` (≥ 0) rounded to `digits` significant digits as plain decimals, trailing zeros dropped. */
function roundTo(magnitude: number, digits: number): string {
  if (magnitude === 0) return '0'
  const exponent = Math.floor(Math.log10(magnitude))
  const decimals = Math.min(100, Math.max(0, digits - 1 - exponent))
  const text = magnitude.toFixed(decimals)
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text
}

/** A count for people, written out: 99,800 (toLocaleString would load the locale data, tens of ms the first time). */
export function formatCount(n: number): string {
  return grouped(String(n))
}

/** Digits with a comma between thousands: 1,500,000.25. */
function grouped(text: string): string {
  const [whole, fraction] = text.split('.')
  const withCommas = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return fraction === undefined ? withCommas : `${withCommas}.${fraction}`
}

/** What a metric's numbers count, from the end of its name. */
export type Quantity =
  /** A duration; `perUnit` ms in one of the metric's units (`_ms` 1, `_s` 1000). */
  | { kind: 'duration'; perUnit: number }
  /** A size in bytes (`_bytes`). */
  | { kind: 'bytes' }
  /** A unit the name spells out and numbers keep as reported: `_gbps` Gbps, `_pct` %, `_mib` MiB. */
  | { kind: 'unit'; unit: string }
  /** A plain number: a count, a ratio, a score. */
  | { kind: 'number' }

/** Duration suffixes of metric names and the ms in one of each. */
const DURATION_SUFFIXES: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  seconds: 1000,
  min: 60_000,
  mins: 60_000,
  minutes: 60_000,
}
/** Other units a metric's name may end with, as people write them. */
const NAMED_UNITS: Record<string, string> = {
  kb: 'kB',
  mb: 'MB',
  gb: 'GB',
  tb: 'TB',
  kib: 'KiB',
  mib: 'MiB',
  gib: 'GiB',
  tib: 'TiB',
  bps: 'bps',
  kbps: 'kbps',
  mbps: 'Mbps',
  gbps: 'Gbps',
  tbps: 'Tbps',
  pps: 'pps',
  kpps: 'kpps',
  mpps: 'Mpps',
  hz: 'Hz',
  khz: 'kHz',
  mhz: 'MHz',
  ghz: 'GHz',
  pct: '%',
  percent: '%',
  dbm: 'dBm',
  db: 'dB',
  celsius: '°C',
  rpm: 'rpm',
}

/**
 * What a metric counts, from the last word of its name (after `_`, `.`, `-` or a space):
 * `resource_wait_ms` a duration in ms, `rx_bytes` (or `bytes`) a size, `port_a.gbps` Gbps,
 * `cpu_pct` %; any other name a plain number.
 */
export function metricQuantity(name: string): Quantity {
  const word = /(?:^|[_.\-\s])([^_.\-\s]+)$/.exec(name.trim())?.[1]?.toLowerCase() ?? ''
  if (word in DURATION_SUFFIXES) return { kind: 'duration', perUnit: DURATION_SUFFIXES[word]! }
  if (word === 'bytes' || word === 'byte') return { kind: 'bytes' }
  if (word in NAMED_UNITS) return { kind: 'unit', unit: NAMED_UNITS[word]! }
  return { kind: 'number' }
}

/** The unit an axis or a value of durations is written in, for its largest value (ms), and the ms in one. */
export function durationUnit(maxMs: number): { unit: string; per: number } {
  const ms = Math.abs(maxMs)
  if (ms >= 2 * 3_600_000) return { unit: 'h', per: 3_600_000 }
  if (ms >= 120_000) return { unit: 'min', per: 60_000 }
  if (ms >= 1000) return { unit: 's', per: 1000 }
  return { unit: 'ms', per: 1 }
}

/** The binary unit a size is written in, for its largest value (bytes), and the bytes in one. */
export function byteUnit(maxBytes: number): { unit: string; per: number } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let power = 0
  while (power < units.length - 1 && Math.abs(maxBytes) >= 1024 ** (power + 1)) power++
  return { unit: units[power]!, per: 1024 ** power }
}

/**
 * How an axis shows a quantity whose largest absolute value is `max` (in the metric's own
 * numbers): the unit it is written in (empty for a plain number) and the factor from the
 * metric's numbers to the axis's.
 */
export function axisScale(quantity: Quantity, max: number): { unit: string; factor: number } {
  switch (quantity.kind) {
    case 'duration': {
      const { unit, per } = durationUnit(max * quantity.perUnit)
      return { unit, factor: quantity.perUnit / per }
    }
    case 'bytes': {
      const { unit, per } = byteUnit(max)
      return { unit, factor: 1 / per }
    }
    case 'unit':
      return { unit: quantity.unit, factor: 1 }
    default:
      return { unit: '', factor: 1 }
  }
}

/**
 * A metric's value for people, with its unit: `30 ms`, `1.5 s`, `2.33 GiB`, `9.4 Gbps`,
 * `1.5 k`; `digits` significant digits (4 unless told).
 */
export function formatQuantity(value: number, quantity: Quantity, digits = 4): string {
  const { unit, factor } = axisScale(quantity, value)
  const scaled = value * factor
  if (quantity.kind === 'number') return formatNumber(scaled, { digits })
  const number = formatNumber(scaled, { digits, suffix: false })
  return unit === '%' ? `${number} %` : `${number} ${unit}`
}

/**
 * A tick label of a chart's axis: `value` in the axis's unit, the axis's unit written in its
 * title. An axis of a plain number shortens thousands (1.5 k); one with a unit writes them
 * out (1,000 ms: its unit keeps its values below a thousand but for a rounded end).
 */
export function formatTick(value: number, unit: string): string {
  return formatNumber(value, { digits: 6, suffix: unit === '' })
}
