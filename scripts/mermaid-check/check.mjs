// Renders every ```mermaid block of the given markdown files with the mermaid package in
// headless Chromium, the way GitHub shows it: in a 980 px column, scaled down to fit when
// wider (mermaid's useMaxWidth). Fails on a parse or render error, on a label that spills
// out of its box, and on text that ends up smaller than MIN_FONT_PX on screen.
//
//   node check.mjs [--out DIR] [--min-font PX] FILE.md...
//
// Writes DIR/<n>-<file>.png (the column as a person sees it) and DIR/metrics.json.

import { readFileSync, mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const COLUMN_PX = 980;
const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const args = { out: join(here, 'out'), minFont: 12, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') args.out = argv[++i];
    else if (a === '--min-font') args.minFont = Number(argv[++i]);
    else args.files.push(a);
  }
  if (!Number.isFinite(args.minFont) || args.minFont <= 0) {
    throw new Error('--min-font: expected a positive number of pixels');
  }
  if (args.files.length === 0) throw new Error('expected at least one markdown file');
  return args;
}

function diagrams(markdown) {
  const out = [];
  const fence = /^```mermaid\n([\s\S]*?)^```$/gm;
  for (let m; (m = fence.exec(markdown)) !== null; ) out.push(m[1]);
  return out;
}

// Runs in the page: renders one diagram into the column and measures it.
async function renderAndMeasure({ code, column }) {
  const host = document.getElementById('column');
  host.innerHTML = '';
  let svgText;
  try {
    ({ svg: svgText } = await window.mermaid.render(`d${Date.now()}`, code));
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
  host.innerHTML = svgText;
  const svg = host.querySelector('svg');
  const viewBox = svg.viewBox.baseVal;
  const natural = viewBox && viewBox.width ? viewBox.width : svg.getBBox().width;
  const shown = svg.getBoundingClientRect().width;
  const scale = shown / natural;
  const texts = [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim() !== '');
  let smallest = Infinity;
  const overflows = [];
  for (const t of texts) {
    const px = parseFloat(getComputedStyle(t).fontSize) * scale;
    smallest = Math.min(smallest, px);
    // The box a label belongs to: the first shape inside its nearest enclosing group
    // that holds one (a timeline node's path.node-bkg, a flowchart node's rect). Text
    // outside it is drawn white on white: characters lost.
    let g = t.parentElement;
    let shape = null;
    while (g && g !== svg && !shape) {
      shape = [...g.querySelectorAll('rect, path, polygon, circle')].find(
        (c) => !c.closest('defs, marker, .lineWrapper'),
      );
      g = g.parentElement;
    }
    if (!shape) continue;
    const tb = t.getBoundingClientRect();
    const sb = shape.getBoundingClientRect();
    const slack = 1;
    if (
      tb.left < sb.left - slack || tb.right > sb.right + slack ||
      tb.top < sb.top - slack || tb.bottom > sb.bottom + slack
    ) {
      overflows.push({
        text: t.textContent.trim().slice(0, 80),
        text_px: [Math.round(tb.width), Math.round(tb.height)],
        box_px: [Math.round(sb.width), Math.round(sb.height)],
      });
    }
  }
  return {
    natural_width: Math.round(natural),
    shown_width: Math.round(shown),
    shown_height: Math.round(svg.getBoundingClientRect().height),
    scale: Number(scale.toFixed(3)),
    smallest_font_px: Number(smallest.toFixed(1)),
    labels: texts.length,
    overflows,
    column,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'mermaid-check-'));
  const started = Date.now();
  // A fresh profile per run (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: COLUMN_PX, height: 800 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  const results = [];
  let failed = 0;
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    // Nothing leaves the machine: every request other than the blank page is refused.
    await page.route('**/*', (route) => route.abort());
    await page.setContent(
      `<!doctype html><html><body style="margin:0;background:#fff">` +
        `<div id="column" style="width:${COLUMN_PX}px"></div></body></html>`,
    );
    await page.addScriptTag({ path: join(here, 'node_modules/mermaid/dist/mermaid.min.js') });
    await page.evaluate(() => {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'default' });
    });
    const version = JSON.parse(
      readFileSync(join(here, 'node_modules/mermaid/package.json'), 'utf8'),
    ).version;
    let n = 0;
    for (const file of args.files) {
      for (const code of diagrams(readFileSync(file, 'utf8'))) {
        n += 1;
        const m = await page.evaluate(renderAndMeasure, { code, column: COLUMN_PX });
        const problems = [];
        if (m.error) problems.push(`does not parse or render: ${m.error}`);
        else {
          if (m.smallest_font_px < args.minFont) {
            problems.push(`smallest text ${m.smallest_font_px} px on screen, below ${args.minFont} px`);
          }
          for (const o of m.overflows) {
            problems.push(`label spills out of its box: ${JSON.stringify(o)}`);
          }
          const png = join(args.out, `${n}-${basename(file, '.md')}.png`);
          await page.locator('#column').screenshot({ path: png });
          m.png = png;
        }
        results.push({ file, diagram: n, ...m, problems });
        failed += problems.length > 0 ? 1 : 0;
        const line = m.error
          ? 'ERROR'
          : `${m.natural_width} px wide, shown at ${m.shown_width} px, smallest text ${m.smallest_font_px} px, ${m.overflows.length} overflow(s)`;
        console.log(`${problems.length ? 'FAIL' : 'ok  '} ${file} #${n}: ${line}`);
        for (const p of problems) console.log(`     ${p}`);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    writeFileSync(
      join(args.out, 'metrics.json'),
      JSON.stringify({ mermaid: version, column_px: COLUMN_PX, min_font_px: args.minFont, seconds, results }, null, 1),
    );
    const widths = results.filter((r) => !r.error).map((r) => r.natural_width);
    const fonts = results.filter((r) => !r.error).map((r) => r.smallest_font_px);
    console.log(
      `mermaid ${version}: ${results.length} diagram(s), ${failed} failing; widths ${Math.min(...widths)}–${Math.max(...widths)} px, ` +
        `smallest text ${Math.min(...fonts)} px; ${seconds.toFixed(1)} s; PNGs in ${args.out}`,
    );
    if (results.length === 0) {
      console.log('no mermaid diagram found in the given files');
      failed += 1;
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(`check-mermaid: ${e.message}`);
  process.exitCode = 2;
});
