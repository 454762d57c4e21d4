import type { TopLevelSpec } from 'vega-lite'
import { formatTick } from '../format/numbers.ts'
import { TICK_LABEL } from './spec-base.ts'
import { textWidth } from './text-width.ts'

/**
 * Drawing, no system library: Vega-Lite specs to SVG with Vega's headless view, DOT to SVG
 * with Graphviz compiled to WebAssembly (@viz-js/viz), SVG to PNG with resvg. Each engine
 * loads on first use (Vega takes a few hundred ms): a run that writes no document never
 * loads one; preloadChartEngines starts them while the tests still run.
 */

/** How many PNG pixels a chart's CSS pixel gets: sharp on a printed page, small enough to write fast. */
const PNG_SCALE = 1.5
/** A larger picture gets fewer pixels per CSS pixel, down to this many pixels in all: the PNG's time grows with them. */
const MAX_PNG_PIXELS = 2_500_000

type VegaEngines = [typeof import('vega'), typeof import('vega-lite')]
let vega: Promise<VegaEngines> | undefined
let viz: Promise<Awaited<ReturnType<typeof import('@viz-js/viz').instance>>> | undefined
let resvg: Promise<typeof import('@resvg/resvg-js')> | undefined

const loadVega = () =>
  (vega ??= Promise.all([import('vega'), import('vega-lite')]).then((engines) => {
    const [{ expressionFunction }] = engines
    // Vega exports its text metrics (vega-scenegraph); its types leave them out.
    const { textMetrics } = engines[0] as unknown as {
      textMetrics: { width: (item: object, text: unknown) => number; height: (item: object) => number }
    }
    // The axes' tick labels, as people write numbers (format/numbers.ts): `labelExpr: recipesTick(datum.value, unit)`.
    expressionFunction(TICK_LABEL, (value: unknown, unit: unknown) =>
      typeof value === 'number' ? formatTick(value, typeof unit === 'string' ? unit : '') : String(value),
    )
    // Without a canvas Vega guesses every character 0.8 em wide: wide glyphs (W, m, CJK) run past that and
    // past the chart's edge. Lay out with widths no narrower than the fonts' (textWidth).
    textMetrics.width = (item, text) => itemWidth(item, text, textMetrics.height(item))
    return engines
  }))
const loadViz = () => (viz ??= import('@viz-js/viz').then((module) => module.instance()))
const loadResvg = () => (resvg ??= import('@resvg/resvg-js'))

/** Starts loading every engine; a failure shows later, in the chart that needs the engine. */
export function preloadChartEngines(): void {
  for (const load of [loadVega, loadViz, loadResvg]) load().catch(() => {})
}

/**
 * A text item's width for Vega's layout. Vega asks for the untruncated text, both to lay a
 * text with a `limit` out (it is drawn cut to its limit, with an ellipsis) and to find where
 * to cut it: a text wider than its limit is as wide as the limit, which answers both.
 */
function itemWidth(item: object, text: unknown, size: number): number {
  const width = textWidth(text === null || text === undefined ? '' : String(text).trim(), size)
  const limit = Number((item as { limit?: number }).limit)
  return limit > 0 && width > limit ? limit : width
}

/** The chart of a Vega-Lite spec, as SVG. */
export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const [{ View, parse }, { compile }] = await loadVega()
  const view = new View(parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Per Vega-Lite template: the view drawing it, and the drawing it does now (one at a time). */
const templates = new Map<TopLevelSpec, { view: Promise<import('vega').View>; busy: Promise<unknown> }>()

/**
 * The chart of a Vega-Lite template with `data` as its named datasets and `signals` as its
 * params, as SVG. The template's view is built once per thread and reused, one chart at a time.
 */
export async function templateSvg(
  template: TopLevelSpec,
  data: Record<string, object[]>,
  signals: Record<string, string | number | boolean | string[]>,
): Promise<string> {
  let state = templates.get(template)
  if (!state) {
    const view = loadVega().then(
      ([{ View, parse }, { compile }]) => new View(parse(compile(template).spec), { renderer: 'none' }),
    )
    state = { view, busy: Promise.resolve() }
    templates.set(template, state)
  }
  const drawing = state.busy.then(async () => {
    const view = await state.view
    for (const [name, values] of Object.entries(data)) view.data(name, values)
    for (const [name, value] of Object.entries(signals)) view.signal(name, value)
    // A view fits its content only when told to (its first run, a change of size): without this the
    // chart keeps the margins of the view's first, cutting wider labels and titles at the edge.
    view.resize()
    await view.runAsync()
    return view.toSVG()
  })
  state.busy = drawing.catch(() => {})
  return drawing
}

/** The picture of a DOT graph, as SVG (dot layout). */
export async function dotSvg(dot: string): Promise<string> {
  const result = (await loadViz()).render(dot, { format: 'svg', engine: 'dot' })
  if (result.status !== 'success')
    throw new Error(
      `Graphviz could not lay the graph out: ${result.errors.map((error) => error.message.trim()).join('; ') || 'no reason given'}`,
    )
  return result.output
}

/** How resvg finds its fonts: the system's, DejaVu Sans for a family it lacks (the charts ask for it first). */
const FONTS = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' }
/** Room left between what a picture draws and its edge when it had to be widened to hold it (CSS px). */
const FIT_MARGIN = 8

/**
 * An SVG as PNG on white: PNG_SCALE pixels per CSS pixel (`scale`), fewer for a picture that
 * would exceed MAX_PNG_PIXELS; its size in pixels. The SVG is first widened to hold
 * everything it draws with the fonts resvg draws with (`svg`): a chart laid out with other
 * text widths would otherwise be cut at the edge. resvg parses the SVG (and lays its text out)
 * once for both the measure and the picture, unless the picture had to be widened: parsing
 * is most of a chart's time. It draws on the calling thread: the charts of the documents are
 * drawn in the Word writer's thread.
 */
export async function svgPng(
  svg: string,
): Promise<{ png: Buffer; width: number; height: number; scale: number; svg: string }> {
  const { Resvg } = await loadResvg()
  const parse = (source: string) => {
    const { width, height } = svgSize(source)
    const scale = Math.min(PNG_SCALE, Math.sqrt(MAX_PNG_PIXELS / Math.max(1, width * height)))
    const resvg = new Resvg(source, {
      fitTo: { mode: 'zoom', value: scale },
      background: 'white',
      font: FONTS,
      logLevel: 'off',
    })
    return { resvg, scale }
  }
  let parsed = parse(svg)
  const bbox = parsed.resvg.getBBox()
  const fitted = bbox ? fitToInk(svg, bbox) : svg
  if (fitted !== svg) parsed = parse(fitted)
  const image = parsed.resvg.render()
  return { png: image.asPng(), width: image.width, height: image.height, scale: parsed.scale, svg: fitted }
}

/**
 * The SVG with its root's viewBox (and size) grown to hold `ink`, the box of everything it
 * draws in its own units, with FIT_MARGIN on each side it grew; the SVG itself when it holds it.
 */
export function fitToInk(svg: string, ink: { x: number; y: number; width: number; height: number }): string {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0]
  if (!root) return svg
  const size = svgSize(svg)
  const box = /\bviewBox="([^"]+)"/
    .exec(root)?.[1]
    ?.trim()
    .split(/[\s,]+/)
    .map(Number)
  const [x, y, w, h] = box?.length === 4 && box.every(Number.isFinite) ? box : [0, 0, size.width, size.height]
  if (!(w! > 0 && h! > 0 && size.width > 0 && size.height > 0)) return svg
  // CSS px per viewBox unit (Graphviz draws in points), and the margin in viewBox units.
  const perUnit = size.width / w!
  const margin = FIT_MARGIN / perUnit
  const left = ink.x < x! ? ink.x - margin : x!
  const top = ink.y < y! ? ink.y - margin : y!
  const right = ink.x + ink.width > x! + w! ? ink.x + ink.width + margin : x! + w!
  const bottom = ink.y + ink.height > y! + h! ? ink.y + ink.height + margin : y! + h!
  if (left === x && top === y && right === x! + w! && bottom === y! + h!) return svg
  const round = (n: number) => Math.round(n * 100) / 100
  const grown = root
    .replace(/\s(width|height|viewBox)="[^"]*"/g, '')
    .replace(
      /^<svg\b/,
      `<svg width="${round((right - left) * perUnit)}" height="${round((bottom - top) * (size.height / h!))}" viewBox="${round(left)} ${round(top)} ${round(right - left)} ${round(bottom - top)}"`,
    )
  return svg.replace(root, () => grown)
}

/** The size of an SVG's root element in CSS pixels (Graphviz gives points); 0 where it says none. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? ''
  const length = (name: string) => {
    const match = new RegExp(`\\b${name}="([\\d.]+)(px|pt)?"`).exec(root)
    return match ? Number(match[1]) * (match[2] === 'pt' ? 4 / 3 : 1) : 0
  }
  return { width: length('width'), height: length('height') }
}
