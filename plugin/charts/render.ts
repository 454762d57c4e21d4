import type { TopLevelSpec } from 'vega-lite'

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

const loadVega = () => (vega ??= Promise.all([import('vega'), import('vega-lite')]))
const loadViz = () => (viz ??= import('@viz-js/viz').then((module) => module.instance()))
const loadResvg = () => (resvg ??= import('@resvg/resvg-js'))

/** Starts loading every engine; a failure shows later, in the chart that needs the engine. */
export function preloadChartEngines(): void {
  for (const load of [loadVega, loadViz, loadResvg]) load().catch(() => {})
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
  signals: Record<string, string | number>,
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

/**
 * An SVG as PNG on white, rasterized off the main thread: PNG_SCALE pixels per CSS pixel
 * (`scale`), fewer for a picture that would exceed MAX_PNG_PIXELS; its size in pixels.
 */
export async function svgPng(svg: string): Promise<{ png: Buffer; width: number; height: number; scale: number }> {
  const { renderAsync } = await loadResvg()
  const { width, height } = svgSize(svg)
  const scale = Math.min(PNG_SCALE, Math.sqrt(MAX_PNG_PIXELS / Math.max(1, width * height)))
  const image = await renderAsync(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    logLevel: 'off',
  })
  return { png: image.asPng(), width: image.width, height: image.height, scale }
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
