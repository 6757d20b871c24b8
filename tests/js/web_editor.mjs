// The openEO Web Editor in headless Chromium, as a new user meets cropcube: log in, find the
// crop processes, run the crop chain directly and as a batch job, show it as an XYZ service.
// Usage: node web_editor.mjs EDITOR_URL SERVER_URL USER PASSWORD OUT_DIR COLOURS_JSON
// Writes a screenshot of each map to OUT_DIR and prints a JSON report as its last line; the
// pytest side (tests/test_web_editor.py) judges the screenshots.
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const [editor, root, user, password, outDir, coloursJson] = process.argv.slice(2);
const colours = new Set(JSON.parse(coloursJson).map((hex) => hex.toLowerCase()));
const report = { maps: {} };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium", // Debian's; never a downloaded browser
  args: ["--no-sandbox"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(60_000);

// The share of a screenshot's pixels that have one of the class colours.
function classShare(png) {
  const { data, width, height } = PNG.sync.read(png);
  let hits = 0;
  for (let i = 0; i < data.length; i += 4) {
    const hex = [data[i], data[i + 1], data[i + 2]].map((v) => v.toString(16).padStart(2, "0"));
    if (colours.has(hex.join(""))) hits += 1;
  }
  return hits / (width * height);
}

// Wait until the visible map has drawn the class map (or give up), then keep its screenshot.
async function shotOfMap(name, timeoutMs = 180_000) {
  const map = page.locator(".ol-viewport").filter({ visible: true }).first();
  await map.waitFor();
  const started = Date.now();
  let png = await map.screenshot();
  while (classShare(png) < 0.05 && Date.now() - started < timeoutMs) {
    await page.waitForTimeout(1000);
    png = await map.screenshot();
  }
  await page.waitForTimeout(1000); // let the last tiles settle
  await map.screenshot({ path: `${outDir}/${name}.png` });
  report.maps[name] = { seconds: (Date.now() - started) / 1000 };
}

try {
  const example = `${root}/openeo/1.2/process_examples/crop_map.json`;
  await page.goto(
    `${editor}/?server=${encodeURIComponent(root)}&process=${encodeURIComponent(example)}`,
  );
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("Data Processing", { exact: true }).waitFor();
  report.user = (await page.locator("header").innerText()).includes(user);

  // The crop processes are listed without showing experimental ones.
  await page.getByPlaceholder("Search").first().fill("lstm");
  report.experimentalTicked = await page.getByLabel("experimental").isChecked();
  report.lstmListed = await page.getByText("lstm_classify", { exact: true }).isVisible();

  // The example graph, loaded from the process's spec, run directly.
  await page.getByRole("button", { name: "Run directly" }).click();
  await shotOfMap("direct");

  // The same as a batch job: create, start, wait, view the results.
  await page.getByRole("button", { name: "Create Batch Job" }).click();
  await page.locator(".modal-container input[name=title]").fill("crop map from the editor");
  await page.locator(".modal-container").getByRole("button", { name: "Submit" }).click();
  await page.getByRole("button", { name: /start processing/i }).click();
  const row = page.getByRole("row", { name: /crop map from the editor/ }).first();
  await row.getByText("finished").waitFor({ timeout: 240_000 });
  await row.locator("button:has(i.fa-eye)").click();
  await shotOfMap("batch");
  report.resultTabs = await page.locator("#viewerTabs .tabName").allInnerTexts();

  // The same graph as an XYZ service on a map.
  await page.getByText("Web Services", { exact: true }).click();
  await page.getByRole("button", { name: "Create" }).first().click();
  await page.locator(".modal-container input[name=title]").fill("crop map tiles");
  await page.locator(".modal-container").getByRole("button", { name: "Submit" }).click();
  const service = page.getByRole("row", { name: /crop map tiles/ }).first();
  report.serviceType = await service.locator("td.type").innerText();
  await service.locator("button:has(i.fa-map)").click();
  await shotOfMap("xyz");
} catch (error) {
  report.error = String(error).slice(0, 2000);
  await page.screenshot({ path: `${outDir}/failure.png` }).catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
