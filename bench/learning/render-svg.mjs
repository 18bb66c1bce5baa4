// Renders vega-lite specs to SVG with vega's headless renderer (no canvas). vega and vega-lite are
// ES modules only, so they run here, in their own process: stdin = JSON array of specs, stdout = JSON
// array of SVG strings.
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const specs = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const svgs = [];
for (const spec of specs) {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  svgs.push(await view.toSVG());
  view.finalize();
}
process.stdout.write(JSON.stringify(svgs));
