// Starts a real `hive dev` for the tests: the binary from HIVE_BIN, or built
// from this repository with `go build`, on free ports, with an SMS webhook
// served here so the tests read the verification codes uc sends.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../..");

/** Options of startDev. */
export interface DevOptions {
  /** Serve NATS on a free port, for `hive admin` (default: in-process only). */
  nats?: boolean;
}

/** A running hive dev. */
export interface Dev {
  ucUrl: string;
  gateAddr: string;
  /** admin runs `hive admin ARGS` against this dev (needs DevOptions.nats) and returns its stdout. */
  admin(...args: string[]): string;
  proc: ChildProcess;
  /** codeFor waits for the verification code uc sent to phone. */
  codeFor(phone: string): Promise<string>;
  stop(): Promise<void>;
  output(): string;
}

/** startDev starts hive dev and resolves once its banner lists uc and the gate. */
export async function startDev(opts: DevOptions = {}): Promise<Dev> {
  const tmp = mkdtempSync(join(tmpdir(), "hive-ts-dev-"));
  let bin = process.env.HIVE_BIN ?? "";
  if (bin === "") {
    bin = join(tmp, "hive");
    execFileSync("go", ["build", "-o", bin, "./cmd/hive"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  }

  // SMS webhook: uc POSTs {"phone","code","text"} here.
  const codes = new Map<string, string[]>();
  const waiters = new Map<string, (code: string) => void>();
  const sms: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const { phone, code } = JSON.parse(body) as { phone: string; code: string };
      const w = waiters.get(phone);
      if (w) {
        waiters.delete(phone);
        w(code);
      } else {
        codes.set(phone, [...(codes.get(phone) ?? []), code]);
      }
      res.end("ok");
    });
  });
  await new Promise<void>((r) => sms.listen(0, "127.0.0.1", r));
  const smsPort = (sms.address() as { port: number }).port;

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("HIVE_") && v !== undefined) env[k] = v;
  const proc = spawn(
    bin,
    [
      "dev",
      "--data-dir", join(tmp, "data"),
      "--nats-listen", opts.nats ? "127.0.0.1:0" : "",
      "--uc-listen", "127.0.0.1:0",
      "--gate-listen", "127.0.0.1:0",
      "--gate-ws-listen", "127.0.0.1:0",
      "--sms-webhook", `http://127.0.0.1:${smsPort}/`,
      "--sms-min-interval", "0s",
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  // Never leave the server behind, even when the test process ends early.
  const reap = () => proc.kill("SIGKILL");
  process.on("exit", reap);
  let out = "";
  let err = "";
  proc.stderr!.on("data", (b) => (err += b));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));

  const addrs = await new Promise<{ uc: string; gate: string }>((resolveAddrs, reject) => {
    proc.stdout!.on("data", (b) => {
      out += b;
      if (!out.includes("Ctrl-C drains and stops.")) return;
      const uc = /^\s+uc\s+(\S+:\d+)$/m.exec(out)?.[1];
      const gate = /^\s+gate\s+(\S+:\d+)$/m.exec(out)?.[1];
      if (uc && gate) resolveAddrs({ uc, gate });
      else reject(new Error(`hive dev banner without uc and gate addresses:\n${out}`));
    });
    void exited.then((code) => reject(new Error(`hive dev exited early (${code}):\n${out}\n${err}`)));
  });

  return {
    ucUrl: `http://${addrs.uc}`,
    gateAddr: addrs.gate,
    admin(...args) {
      const nats = /^\s+nats\s+(nats:\/\/\S+)$/m.exec(out)?.[1];
      if (!nats) throw new Error(`hive dev serves no NATS (startDev({ nats: true })):\n${out}`);
      return execFileSync(bin, ["admin", ...args, "--nats", nats, "--data-dir", join(tmp, "data")], { env, encoding: "utf8" });
    },
    proc,
    codeFor(phone) {
      const have = codes.get(phone);
      if (have && have.length > 0) return Promise.resolve(have.shift()!);
      return new Promise((r) => waiters.set(phone, r));
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGCONT"); // in case a test left it stopped
        proc.kill("SIGTERM");
        await exited;
      }
      process.off("exit", reap);
      sms.close();
      rmSync(tmp, { recursive: true, force: true });
    },
    output: () => `stdout:\n${out}\nstderr:\n${err}`,
  };
}
