// The WebSocket transport (PROTOCOL.md §2): one binary WebSocket message
// carries one whole frame, byte for byte as on TCP. It uses only what a
// browser has (no Node built-ins), and in Node takes a WebSocket class such
// as the one of the "ws" package.
import { Session, type Connect, type SessionOptions, type Transport } from "./session.js";

/**
 * WebSocketLike is the part of the WebSocket API (the browser's, or the "ws"
 * package's in Node) the transport uses.
 */
export interface WebSocketLike {
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  // The event types differ between the browser and "ws" (never admits
  // both): only .data, .code and .reason are read.
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
}

/** WebSocketConstructor makes a WebSocketLike: globalThis.WebSocket, or `WebSocket` from "ws". */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of websocket. */
export interface WebSocketOptions {
  /**
   * The WebSocket class. Default: globalThis.WebSocket (browsers, Node 22+).
   * Node 20 has none: pass `WebSocket` from the "ws" package.
   */
  WebSocket?: WebSocketConstructor;
  /** Time limit of the opening handshake in ms (default 10000). */
  connectTimeoutMs?: number;
}

/** WebSocket close codes the gate uses (RFC 6455 §7.4), and what they mean for a session. */
export const wsCloseReasons: Readonly<Record<number, string>> = {
  1000: "closed by the gate",
  1001: "the gate is going away (draining)",
  1003: "the gate refused a text message: frames go in binary messages",
  1006: "connection lost",
  1007: "the gate refused a message that is not exactly one whole frame",
  1009: "message too large for the gate",
  1011: "the gate failed",
  1013: "the gate is full: try again later",
};

/** WebSocketClosedError is the end of a WebSocket connection, with its close code. */
export class WebSocketClosedError extends Error {
  /** The close code (1000, 1001, 1003, 1006, 1009, 1013, ...). */
  readonly closeCode: number;
  /** The close reason the gate sent, if any. */
  readonly closeReason: string;
  constructor(closeCode: number, closeReason: string) {
    const known = wsCloseReasons[closeCode] ?? "connection closed";
    super(`hive: ${known} (WebSocket ${closeCode}${closeReason ? ": " + closeReason : ""})`);
    this.name = "WebSocketClosedError";
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}

/** websocket returns a Connect that opens a WebSocket to the gate at url (uc's ws_url). */
export function websocket(url: string, opts: WebSocketOptions = {}): Connect {
  const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Ctor === undefined) {
    throw new Error('hive: no WebSocket here (Node 20): pass { WebSocket } from the "ws" package');
  }
  if (!/^wss?:\/\//.test(url)) throw new Error(`hive: gate WebSocket URL ${JSON.stringify(url)} is not ws:// or wss://`);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  return () =>
    new Promise<Transport>((resolve, reject) => {
      const ws = new Ctor(url);
      ws.binaryType = "arraybuffer";
      const timer = setTimeout(() => {
        ws.onclose = ws.onopen = null;
        ws.close();
        reject(new Error(`hive: connect ${url}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onerror = () => {}; // the close event that follows carries the code
      ws.onclose = (ev: { code: number; reason: string }) => {
        clearTimeout(timer);
        reject(new Error(`hive: connect ${url}: ${new WebSocketClosedError(ev.code, ev.reason).message}`));
      };
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new WebSocketTransport(ws));
      };
    });
}

/** WebSocketTransport carries frames on an open WebSocket, one frame per binary message. */
export class WebSocketTransport implements Transport {
  onData?: (chunk: Uint8Array) => void;
  onClose?: (error?: Error) => void;
  private ended = false;

  constructor(readonly socket: WebSocketLike) {
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev: { data: unknown }) => {
      if (ev.data instanceof ArrayBuffer) {
        this.onData?.(new Uint8Array(ev.data));
      } else if (ArrayBuffer.isView(ev.data)) {
        this.onData?.(new Uint8Array(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength));
      } else {
        // The gate sends binary only; a text message is not a frame.
        this.end(new Error("hive: the gate sent a text message, not a frame"));
        socket.close(1003, "binary frames only");
      }
    };
    socket.onerror = () => {};
    socket.onclose = (ev: { code: number; reason: string }) => this.end(new WebSocketClosedError(ev.code, ev.reason));
  }

  send(frame: Uint8Array): void {
    this.socket.send(frame);
  }

  close(): void {
    this.socket.close(1000, "closed by client");
  }

  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose?.(error);
  }
}

/** connectWebSocket logs in over a WebSocket to the gate at url (uc's ws_url) with token. */
export function connectWebSocket(url: string, token: string, opts: SessionOptions & WebSocketOptions = {}): Promise<Session> {
  return Session.connect(websocket(url, opts), token, opts);
}
