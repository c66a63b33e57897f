// Node-only parts: the TCP transport (node:net). Kept out of the main entry
// point so that browser code imports no Node built-ins.
import { connect as netConnect, type Socket } from "node:net";
import { Session, type Connect, type SessionOptions, type Transport } from "./session.js";

/** Options of tcp. */
export interface TcpOptions {
  /** Time limit of the TCP connect in ms (default 10000). */
  connectTimeoutMs?: number;
}

/** splitAddr splits "host:port" or "[v6]:port", as uc's Auth.Res addr. */
export function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`hive: gate address ${JSON.stringify(addr)} is not host:port`);
  }
  return { host: addr.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port };
}

/** tcp returns a Connect that opens a TCP connection to a gate at addr ("host:port"). */
export function tcp(addr: string, opts: TcpOptions = {}): Connect {
  const { host, port } = splitAddr(addr);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  return () =>
    new Promise<Transport>((resolve, reject) => {
      const sock = netConnect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`hive: connect ${addr}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`hive: connect ${addr}: ${e.message}`));
      });
      sock.once("connect", () => {
        clearTimeout(timer);
        sock.removeAllListeners("error");
        sock.setNoDelay(true);
        resolve(new TcpTransport(sock));
      });
    });
}

/** TcpTransport carries frames on a TCP socket. */
export class TcpTransport implements Transport {
  onData?: (chunk: Uint8Array) => void;
  onClose?: (error?: Error) => void;
  private error?: Error;

  constructor(readonly socket: Socket) {
    socket.on("data", (b: Buffer) => this.onData?.(new Uint8Array(b.buffer, b.byteOffset, b.length)));
    socket.on("error", (e) => {
      this.error = e;
    });
    socket.on("close", () => this.onClose?.(this.error));
  }

  send(frame: Uint8Array): void {
    this.socket.write(frame);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** connectTcp logs in over TCP to the gate at addr (uc's Auth.Res addr) with token. */
export function connectTcp(addr: string, token: string, opts: SessionOptions & TcpOptions = {}): Promise<Session> {
  return Session.connect(tcp(addr, opts), token, opts);
}

export * from "./index.js";
