import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

test("src/gen is what protoc-gen-es makes of proto/", (t) => {
  if (spawnSync("protoc", ["--version"]).error) {
    t.skip("protoc not on PATH (Debian: apt-get install protobuf-compiler); cannot check src/gen");
    return;
  }
  const out = spawnSync(process.execPath, [resolve(root, "scripts/generate.mjs"), "--check"], { encoding: "utf8" });
  assert.equal(out.status, 0, `${out.stdout}${out.stderr}`);
  void execFileSync;
});

test("demo/hive.js is what esbuild makes of src/", () => {
  const out = spawnSync(process.execPath, [resolve(root, "scripts/bundle.mjs"), "--check"], { encoding: "utf8" });
  assert.equal(out.status, 0, `${out.stdout}${out.stderr}`);
});

test("the browser entry point imports no Node built-in", async () => {
  const { readFileSync } = await import("node:fs");
  const seen = new Set<string>();
  const bad: string[] = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/g)) {
      const spec = m[1];
      if (spec.startsWith(".")) walk(resolve(dirname(file), spec));
      else if (spec.startsWith("node:") || !spec.startsWith("@bufbuild/")) bad.push(`${file}: ${spec}`);
    }
  };
  walk(resolve(root, "dist/src/index.js"));
  assert.ok(seen.size > 3, `walked only ${[...seen].join(", ")}`);
  assert.deepEqual(bad, []);
});
