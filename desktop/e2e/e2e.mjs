// End-to-end test of the real desktop app through tauri-driver + WebKitWebDriver.
//
//   node desktop/e2e/e2e.mjs --driver http://127.0.0.1:4444 --app /path/to/imgcloud-desktop \
//     --images a.png,b.png,c.png [--paste d.png] [--shots docs/images]
//
// Run by scripts/test-desktop.sh, which starts Xvfb, an embedded cloud and tauri-driver (with
// the user's IMGCLOUD_*_DIR pointing at that cloud) first. Steps: upload images through the
// UI's file picker, see their thumbnails in the grid, copy a link (the clipboard is read back
// with xclip on the same display), delete and restore through the trash, paste an image put on
// the X clipboard (Ctrl+V), make an image private and public again (its link stops and comes
// back), make a share link with options (copied; its page opens and counts the view), see it in
// the Shares view and revoke it (its page answers 410), and save screenshots of the gallery and
// of the detail panel.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { Session, log as say, parseArgs, sleep, until } from "./webdriver.mjs";

const args = parseArgs(process.argv.slice(2), ["driver", "app", "images"]);
const images = args.images.split(",");
const wd = new Session(args.driver);
const log = (message) => say(`e2e: ${message}`);
const exec = (script, ...scriptArgs) => wd.exec(script, ...scriptArgs);
const find = (css) => wd.find(css);
const click = (css) => wd.click(css);

const tileIds = () => exec(`return [...document.querySelectorAll('[data-testid=tile]')].map(t => t.dataset.id);`);

function clipboard() {
  return execFileSync("xclip", ["-selection", "clipboard", "-o"], { encoding: "utf8", timeout: 5000 });
}

async function screenshot(file) {
  if (!args.shots) return;
  mkdirSync(args.shots, { recursive: true });
  writeFileSync(join(args.shots, file), await wd.screenshot());
  log(`saved ${join(args.shots, file)}`);
}

async function main() {
  const started = Date.now();
  await wd.start(args.app);
  log(`session ${wd.id} in ${Date.now() - started} ms`);
  try {
    await until("the empty library", async () => (await find("[data-testid=empty]")).length > 0);

    // 1. Upload through the file picker (the same change handler a person triggers).
    const payload = images.map((path) => ({ name: basename(path), b64: readFileSync(path).toString("base64") }));
    await exec(
      `const input = document.querySelector('[data-testid=file-input]');
       const dt = new DataTransfer();
       for (const f of arguments[0]) {
         const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
         dt.items.add(new File([bytes], f.name, { type: 'image/png' }));
       }
       input.files = dt.files;
       input.dispatchEvent(new Event('change', { bubbles: true }));`,
      payload,
    );
    const ids = await until(`${images.length} thumbnails in the grid`, async () => {
      const ids = await tileIds();
      return ids.length === images.length ? ids : null;
    });
    await until("thumbnails painted", () =>
      exec(`return [...document.querySelectorAll('[data-testid=tile] img')].every(i => i.complete && i.naturalWidth > 0);`),
    );
    const done = await until("every upload done", () =>
      exec(`const s = [...document.querySelectorAll('[data-testid=upload-item]')].map(i => i.dataset.status);
            return s.length === arguments[0] && s.every(x => x === 'done') ? s : null;`, images.length),
    );
    log(`uploaded ${done.length} images through the UI: ${ids.join(", ")}`);
    // The finished upload's link is on the clipboard.
    const uploadedLinks = await until("upload links on the clipboard", () => {
      const text = clipboard().trim();
      return text.split("\n").length === images.length && /^http:\/\/127\.0\.0\.1:\d+\/.+\/i\/[0-9A-Za-z]{16}\//.test(text) ? text : null;
    });
    log(`clipboard after upload: ${uploadedLinks.split("\n")[0]}…`);
    // Clear the finished uploads and let the toast fade before the screenshot.
    await exec(`document.querySelector('[data-testid=uploads] button')?.click();`);
    await until("the toasts gone", async () => (await find("[data-testid=toast]")).length === 0, 15);
    await screenshot("desktop-gallery.png");

    // 2. Open the first image, copy its link, and read the clipboard back.
    const first = ids[0];
    await click(`[data-testid=tile][data-id="${first}"]`);
    await until("the detail panel", async () => (await find("[data-testid=detail]")).length > 0);
    const link = await until("the detail link", () =>
      exec(`const v = document.querySelector('[data-testid=detail-link]').value; return v.startsWith('http') ? v : null;`),
    );
    if (!link.includes(`/i/${first}/`)) throw new Error(`detail link ${link} is not image ${first}'s`);
    // xclip stays in the background to serve the selection: do not wait for its output pipes.
    execFileSync("xclip", ["-selection", "clipboard", "-i"], {
      input: "something else",
      stdio: ["pipe", "ignore", "ignore"],
      timeout: 5000,
    });
    await click("[data-testid=copy-link]");
    await until(`the clipboard to hold ${link}`, () => clipboard() === link);
    log(`copied link ${link}`);
    await until("the preview painted", () =>
      exec(`const i = document.querySelector('[data-testid=detail] img'); return i && i.complete && i.naturalWidth > 0;`),
    );
    // The camera comes from the original's EXIF through `photo_info`: these PNGs have none.
    const camera = await until("the camera field answered", () =>
      exec(`const t = document.querySelector('[data-testid=detail-camera]').textContent.trim(); return t === '…' ? null : t;`),
    );
    if (camera !== "—") throw new Error(`camera of a PNG without EXIF shows ${camera}, not —`);
    await sleep(300);
    await screenshot("desktop-detail.png");

    // 3. Delete, then restore from the trash.
    await click("[data-testid=delete]");
    await until("the tile gone from the library", async () => !(await tileIds()).includes(first));
    await click("[data-testid=nav-trash]");
    await until("the tile in the trash", async () => (await tileIds()).includes(first));
    await click(`[data-testid=tile][data-id="${first}"]`);
    await click("[data-testid=restore]");
    await until("the trash empty again", async () => !(await tileIds()).includes(first));
    await click("[data-testid=nav-library]");
    await until("the tile back in the library", async () => (await tileIds()).includes(first));
    log("deleted and restored through the trash");

    // 4. Paste: an image on the X clipboard, Ctrl+V in the gallery, a new tile and its link.
    if (args.paste) {
      execFileSync("xclip", ["-selection", "clipboard", "-t", "image/png", "-i", args.paste], {
        stdio: ["ignore", "ignore", "ignore"],
        timeout: 5000,
      });
      const before = await tileIds();
      const [grid] = await find("[data-testid=grid]");
      await wd.request("POST", wd.s(`/element/${grid}/value`), { text: "\uE009v\uE000" });
      const pasted = await until("a pasted image in the grid", async () => {
        const now = await tileIds();
        return now.length === before.length + 1 ? now.find((id) => !before.includes(id)) : null;
      });
      const pastedLink = await until("the pasted image's link on the clipboard", () => {
        const text = clipboard().trim();
        return text.includes(`/i/${pasted}/`) ? text : null;
      });
      log(`pasted an image: ${pastedLink}`);
    }

    // 5. Visibility and a share link.
    await click(`[data-testid=tile][data-id="${first}"]`);
    await until("the detail panel", async () => (await find("[data-testid=detail]")).length > 0);
    const status = async (url) => (await fetch(url, { headers: { "user-agent": "Mozilla/5.0 e2e" } })).status;
    await click("[data-testid=toggle-visibility]");
    await until("the image private", () =>
      exec(`return document.querySelector('[data-testid=detail-visibility]').textContent.startsWith('private');`),
    );
    const stopped = await status(link);
    if (stopped !== 403 && stopped !== 404) throw new Error(`the public link of a private image answers ${stopped}`);
    await click("[data-testid=toggle-visibility]");
    await until("the image public again", () =>
      exec(`return document.querySelector('[data-testid=detail-visibility]').textContent === 'public';`),
    );
    if ((await status(link)) !== 200) throw new Error("the link did not come back");
    log("made private (its link stopped) and public again (it came back)");

    await click("[data-testid=share-open]");
    await until("the share form", async () => (await find("[data-testid=share-form]")).length > 0);
    await exec(
      `const set = (id, v) => { const e = document.querySelector('[data-testid=' + id + ']'); e.value = v; e.dispatchEvent(new Event('input', { bubbles: true })); };
       set('share-label', 'for e2e'); set('share-max-views', '2'); set('share-expires', '7d');`,
    );
    await click("[data-testid=share-create]");
    const shareUrl = await until("the share link", () =>
      exec(`const e = document.querySelector('[data-testid=share-url]'); return e && e.value.includes('/s/') ? e.value : null;`),
    );
    await until(`the clipboard to hold ${shareUrl}`, () => clipboard() === shareUrl);
    const page = await fetch(shareUrl, { headers: { "user-agent": "Mozilla/5.0 e2e" } });
    const html = await page.text();
    if (page.status !== 200 || !html.includes("og:image")) throw new Error(`share page answered ${page.status}`);
    log(`made and copied share link ${shareUrl}; its page opens`);

    await click("[data-testid=nav-shares]");
    const views = await until("the link in the Shares view", () =>
      exec(`const r = [...document.querySelectorAll('[data-testid=share-row]')].find(r => r.dataset.url === arguments[0]);
            return r ? r.querySelector('[data-testid=share-views]').textContent.trim() : null;`, shareUrl),
    );
    if (views !== "1 / 2") throw new Error(`the Shares view counts ${views}, not 1 / 2`);
    await exec(
      `[...document.querySelectorAll('[data-testid=share-row]')].find(r => r.dataset.url === arguments[0]).querySelector('[data-testid=share-revoke]').click();`,
      shareUrl,
    );
    await until("the link revoked", () =>
      exec(`const r = [...document.querySelectorAll('[data-testid=share-row]')].find(r => r.dataset.url === arguments[0]);
            return r && r.dataset.state === 'revoked';`, shareUrl),
    );
    if ((await status(shareUrl)) !== 410) throw new Error("a revoked link does not answer 410");
    log("the Shares view counted the view, and revoking ended the link (410)");
    await click("[data-testid=nav-library]");

    // 6. Albums: add the image to a new album, show only the album, share it.
    await until("the library again", async () => (await tileIds()).includes(first));
    await click(`[data-testid=tile][data-id="${first}"]`);
    await until("the detail panel", async () => (await find("[data-testid=album-name]")).length > 0);
    await exec(
      `const e = document.querySelector('[data-testid=album-name]'); e.value = 'Trip'; e.dispatchEvent(new Event('input', { bubbles: true }));`,
    );
    await click("[data-testid=album-add]");
    await until("the album in the picker", () =>
      exec(`return [...document.querySelectorAll('[data-testid=album-filter] option')].some(o => o.textContent.startsWith('Trip'));`),
    );
    await exec(
      `const s = document.querySelector('[data-testid=album-filter]');
       s.value = [...s.options].find(o => o.textContent.startsWith('Trip')).value;
       s.dispatchEvent(new Event('change', { bubbles: true }));`,
    );
    const inAlbum = await until("only the album's image in the grid", async () => {
      const ids = await tileIds();
      return ids.length === 1 && ids[0] === first ? ids : null;
    });
    await click("[data-testid=share-album]");
    const albumLink = await until("the album's share link on the clipboard", () => {
      const text = clipboard().trim();
      return text.includes("/s/") && text !== shareUrl ? text : null;
    });
    const albumPage = await fetch(albumLink, { headers: { "user-agent": "Mozilla/5.0 e2e" } });
    const albumHtml = await albumPage.text();
    if (albumPage.status !== 200 || !albumHtml.includes("Trip")) throw new Error(`album page answered ${albumPage.status}`);
    await exec(
      `const s = document.querySelector('[data-testid=album-filter]'); s.value = ''; s.dispatchEvent(new Event('change', { bubbles: true }));`,
    );
    await until("every image again", async () => (await tileIds()).length > inAlbum.length);
    log(`added to album Trip, showed only it, shared it: ${albumLink}`);
  } finally {
    await wd.close().catch((e) => log(`closing the session: ${e.message}`));
  }
  log(`passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  log(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
});
