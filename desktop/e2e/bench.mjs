// Desktop gallery benchmark through tauri-driver (run by scripts/bench/desktop.sh):
//   node desktop/e2e/bench.mjs --driver http://127.0.0.1:4444 --app /path/to/imgcloud-desktop
// Prints: app start (WebDriver session request, which launches the app) to the first thumbnail
// painted; then, with every page loaded by scrolling, the DOM nodes inside the grid with the
// gallery scrolled to the middle.

import { Session, log, parseArgs, until } from "./webdriver.mjs";

const args = parseArgs(process.argv.slice(2), ["driver", "app"]);
const expected = Number(args.expect ?? 0);
const wd = new Session(args.driver);

async function main() {
  const t0 = Date.now();
  await wd.start(args.app);
  const session = Date.now() - t0;
  const first = await wd.execAsync(
    `const done = arguments[arguments.length - 1];
     const check = () => {
       const img = [...document.querySelectorAll('[data-testid=tile] img')].find(i => i.complete && i.naturalWidth > 0);
       if (img) requestAnimationFrame(() => done({ at: Date.now(), tiles: document.querySelectorAll('[data-testid=tile]').length }));
       else setTimeout(check, 5);
     };
     check();`,
  );
  const firstPaint = first.at - t0;
  log(`first thumbnail painted ${firstPaint} ms after start (session up after ${session} ms; ${first.tiles} tiles in the DOM)`);

  // Load every page: scroll to the end until the count stops growing.
  const t1 = Date.now();
  let loaded = 0;
  await until(
    "every page loaded",
    async () => {
      const state = await wd.exec(
        `const v = document.querySelector('[data-testid=grid]');
         v.scrollTop = v.scrollHeight;
         return { items: Number(v.dataset.items), more: v.dataset.hasMore === 'true' };`,
      );
      loaded = state.items;
      return !state.more && loaded >= expected;
    },
    600,
  );
  log(`loaded ${loaded} images by scrolling in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

  const middle = await wd.execAsync(
    `const done = arguments[arguments.length - 1];
     const v = document.querySelector('[data-testid=grid]');
     v.scrollTop = (v.scrollHeight - v.clientHeight) / 2;
     v.dispatchEvent(new Event('scroll'));
     requestAnimationFrame(() => requestAnimationFrame(() => done({
       nodes: v.querySelectorAll('*').length,
       tiles: v.querySelectorAll('[data-testid=tile]').length,
       height: v.scrollHeight, viewport: v.clientHeight, width: v.clientWidth,
       document: document.querySelectorAll('*').length,
     })));`,
  );
  log(
    `scrolled to the middle of ${loaded} images (${middle.height} px): ${middle.nodes} DOM nodes in the grid, ` +
      `${middle.tiles} tiles, ${middle.document} in the whole document (viewport ${middle.width}×${middle.viewport})`,
  );
  console.log(
    JSON.stringify({ first_thumbnail_ms: firstPaint, session_ms: session, images: loaded, grid_nodes_middle: middle.nodes, tiles_middle: middle.tiles, document_nodes: middle.document }),
  );
  await wd.close();
}

main().catch(async (e) => {
  log(`bench FAILED: ${e.stack ?? e}`);
  await wd.close().catch(() => {});
  process.exit(1);
});
