// Builds demo/hive.js, the SDK's browser entry (src/index.ts) bundled by
// esbuild into one ESM file for the demo page. With --check it builds in
// memory and fails if the checked-in bundle differs, as check-generated
// does for src/gen.
import { build } from "esbuild";
import { readFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "demo", "hive.js");
const check = process.argv.includes("--check");

const res = await build({
  entryPoints: [join(root, "src", "index.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  banner: { js: "// The Hive SDK for browsers, built by `npm run bundle` from src/index.ts: do not edit." },
  outfile: out,
  write: !check,
  logLevel: "warning",
});
if (check) {
  const fresh = res.outputFiles[0].contents;
  const have = existsSync(out) ? readFileSync(out) : null;
  if (have === null || !Buffer.from(fresh).equals(have)) {
    console.error("demo/hive.js is stale: run npm run bundle and commit");
    process.exit(1);
  }
  console.log("demo/hive.js is fresh");
}
