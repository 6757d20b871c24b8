// The openEO Web Editor in headless Chromium, as a new user meets cropcube: log in, find the
// crop processes, run the crop chain directly and as a batch job, show it as an XYZ service.
// Then a float result (NDVI maximum), directly and as a batch job.
// Usage: node web_editor.mjs EDITOR_URL SERVER_URL USER PASSWORD OUT_DIR NDVI_GRAPH_URL
// Writes a screenshot of each map to OUT_DIR and prints a JSON report as its last line; the
// pytest side (tests/test_web_editor.py) judges the screenshots.
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const [editor, root, user, password, outDir, ndviGraph] = process.argv.slice(2);
const report = { maps: {} };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium", // Debian's; never a downloaded browser
  args: ["--no-sandbox"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(60_000);

// The share of a screenshot's pixels that are not the white of an empty map.
function drawnShare(png) {
  const { data, width, height } = PNG.sync.read(png);
  let drawn = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 250 || data[i + 1] < 250 || data[i + 2] < 250) drawn += 1;
  }
  return drawn / (width * height);
}

// Wait for the viewer tab (when named) and until its map has drawn something (or give up),
// then keep its screenshot, without the notifications that cover part of the map. Tabs open
// and switch while results load, so the visible map is looked up anew for every shot.
async function shotOfMap(name, tab = null, timeoutMs = 180_000) {
  if (tab) {
    const tabName = page.locator("#viewerTabs .tabName", { hasText: tab }).last();
    await tabName.waitFor({ timeout: timeoutMs });
    await tabName.click();
  }
  const options = { style: ".snotify { visibility: hidden !important; }", timeout: 5000 };
  const shot = (extra = {}) =>
    page.locator(".ol-viewport").filter({ visible: true }).first().screenshot({
      ...options,
      ...extra,
    });
  const started = Date.now();
  for (;;) {
    const png = await shot().catch(() => null);
    if ((png && drawnShare(png) >= 0.1) || Date.now() - started > timeoutMs) break;
    await page.waitForTimeout(1000);
  }
  await page.waitForTimeout(1000); // let the last tiles settle
  await shot({ path: `${outDir}/${name}.png`, timeout: 30_000 });
  report.maps[name] = { seconds: (Date.now() - started) / 1000 };
}

// Open the editor on a process graph, logged in.
async function open(graphUrl) {
  await page.goto(
    `${editor}/?server=${encodeURIComponent(root)}&process=${encodeURIComponent(graphUrl)}`,
  );
  const ready = page.getByText("Data Processing", { exact: true });
  const login = page.getByLabel("Username");
  await ready.or(login).first().waitFor();
  if (await login.isVisible()) {
    await login.fill(user);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
  }
  await ready.waitFor();
}

// Run the editor's graph as a batch job and show its results.
async function batchJob(title) {
  await page.getByText("Data Processing", { exact: true }).click();
  await page.getByRole("button", { name: "Create Batch Job" }).click();
  await page.locator(".modal-container input[name=title]").fill(title);
  await page.locator(".modal-container").getByRole("button", { name: "Submit" }).click();
  await page.getByRole("button", { name: /start processing/i }).first().click();
  const row = page.getByRole("row", { name: new RegExp(title) }).first();
  await row.getByText("finished").waitFor({ timeout: 240_000 });
  await row.locator("button:has(i.fa-eye)").click();
}

try {
  await open(`${root}/openeo/1.2/process_examples/crop_map.json`);
  report.user = (await page.locator("header").innerText()).includes(user);

  // The crop processes are listed without showing experimental ones.
  await page.getByPlaceholder("Search").first().fill("lstm");
  report.experimentalTicked = await page.getByLabel("experimental").isChecked();
  report.lstmListed = await page.getByText("lstm_classify", { exact: true }).isVisible();

  // The example graph, loaded from the process's spec, run directly.
  await page.getByRole("button", { name: "Run directly" }).click();
  await shotOfMap("direct", /^Result/);

  // The same as a batch job.
  await batchJob("crop map from the editor");
  await shotOfMap("batch", /^result\.tif$/);
  report.resultTabs = await page.locator("#viewerTabs .tabName").allInnerTexts();

  // The same graph as an XYZ service on a map.
  await page.getByText("Web Services", { exact: true }).click();
  await page.getByRole("button", { name: "Create" }).first().click();
  await page.locator(".modal-container input[name=title]").fill("crop map tiles");
  await page.locator(".modal-container").getByRole("button", { name: "Submit" }).click();
  const service = page.getByRole("row", { name: /crop map tiles/ }).first();
  report.serviceType = await service.locator("td.type").innerText();
  await service.locator("button:has(i.fa-map)").click();
  await shotOfMap("xyz", /crop map tiles/);

  // A float result: the NDVI maximum, stretched from the statistics in the file or STAC.
  await open(ndviGraph);
  await page.getByRole("button", { name: "Run directly" }).click();
  await shotOfMap("ndvi_direct", /^Result/);
  await batchJob("NDVI max from the editor");
  await shotOfMap("ndvi_batch", /^result\.tif$/);
} catch (error) {
  report.error = String(error).slice(0, 2000);
  await page.screenshot({ path: `${outDir}/failure.png` }).catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
