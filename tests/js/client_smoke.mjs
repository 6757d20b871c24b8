// Connect, log in, list, computeResult: what a web app built on @openeo/js-client does.
// Usage: node client_smoke.mjs URL USER PASSWORD OUTFILE
import { OpenEO } from "@openeo/js-client";
import { writeFileSync } from "node:fs";

const [url, user, password, outFile] = process.argv.slice(2);
const con = await OpenEO.connect(url);
const caps = con.capabilities();
await con.authenticateBasic(user, password);
const me = await con.describeAccount();
const collections = await con.listCollections();
const s2 = await con.describeCollection("SENTINEL2_L2A");
const processes = await con.listProcesses();

const builder = await con.buildProcess();
const cube = builder.load_collection(
  "SENTINEL2_L2A",
  { west: 679720, east: 680680, south: 5151080, north: 5151920, crs: 32632 },
  ["2022-06-01", "2022-07-01"],
  ["B04", "B08"],
);
const ndvi = builder.ndvi(cube, "B08", "B04");
const reducer = function (data) { return this.max(data); };
const maxNdvi = builder.reduce_dimension(ndvi, reducer, "t");
const saved = builder.save_result(maxNdvi, "GTiff");
const blob = await con.computeResult(saved);
const chunks = [];
for await (const chunk of blob.data) chunks.push(chunk);
writeFileSync(outFile, Buffer.concat(chunks));

let errorCode = null;
try {
  await con.computeResult({ process_graph: { x: { process_id: "nope", arguments: {}, result: true } } });
} catch (e) {
  errorCode = e.code;
}

console.log(JSON.stringify({
  apiVersion: caps.apiVersion(),
  backendTitle: caps.title(),
  user: me.user_id,
  collections: collections.collections.map((c) => c.id).sort(),
  s2Bands: s2.summaries["eo:bands"].map((b) => b.name),
  hasNdvi: processes.processes.some((p) => p.id === "ndvi"),
  resultType: blob.type,
  errorCode,
  // API 1.3 with the JWT conformance class: the token goes bare, without `basic//`.
  bearer: con.getAuthProvider().getToken().startsWith("basic//") ? "prefixed" : "bare",
}));
