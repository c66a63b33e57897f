// Generates src/gen/ from the repository's .proto files with the system protoc
// and the protoc-gen-es plugin pinned in package.json (no download at run
// time). With --check it generates into a temp dir and fails if the checked-in
// code differs, as proto/generate_test.go does for the Go code.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const protoDir = resolve(root, "../../proto");
// The same files proto/generate.go names.
const protos = ["def/def.proto", "msg/msg.proto", "evt/account.proto", "evt/player.proto"];
const plugin = join(root, "node_modules", ".bin", process.platform === "win32" ? "protoc-gen-es.cmd" : "protoc-gen-es");

function generate(outDir) {
  if (!existsSync(plugin)) {
    throw new Error(`${plugin} missing: run npm ci in ${root}`);
  }
  execFileSync("protoc", [
    `--plugin=protoc-gen-es=${plugin}`,
    `--es_out=${outDir}`,
    "--es_opt=target=ts,import_extension=js",
    `-I${protoDir}`,
    ...protos,
  ], { stdio: ["ignore", "inherit", "inherit"] });
}

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

const gen = join(root, "src", "gen");
if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(join(tmpdir(), "hive-ts-gen-"));
  try {
    generate(tmp);
    const want = files(tmp).map((f) => relative(tmp, f)).sort();
    const have = existsSync(gen) ? files(gen).map((f) => relative(gen, f)).sort() : [];
    const stale = [];
    for (const f of new Set([...want, ...have])) {
      const a = want.includes(f) ? readFileSync(join(tmp, f)) : null;
      const b = have.includes(f) ? readFileSync(join(gen, f)) : null;
      if (a === null || b === null || !a.equals(b)) stale.push(f);
    }
    if (stale.length > 0) {
      console.error(`src/gen is stale (${stale.join(", ")}): run npm run generate and commit`);
      process.exit(1);
    }
    console.log("src/gen is fresh");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  rmSync(gen, { recursive: true, force: true });
  execFileSync("mkdir", ["-p", gen]);
  generate(gen);
}
