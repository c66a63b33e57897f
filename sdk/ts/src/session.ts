// A game session over any transport that carries frames (PROTOCOL.md §1-2):
// log in with uc's token, typed calls with one request in flight, pushes,
// kicks and reconnection. It uses no Node built-ins, so it runs in browsers.
import { create } from "@bufbuild/protobuf";
import { ResCode, type User } from "./gen/def/def_pb.js";
import { Echo_ReqSchema, Login_ReqSchema, type Error_Res, type Kick_Res, type Login_Res } from "./gen/msg/msg_pb.js";
import { decodeMessage, encodeMessage, FrameDecoder } from "./frame.js";
import { responseApi, type Request, type Response, type ResponseOf } from "./messages.js";

/**
 * Transport is one connection that carries frames both ways: TCP (see
 * "@qeetap/hive/node") or anything else that delivers the same bytes. The
 * session sets onData and onClose right after the connection opens.
 */
export interface Transport {
  /** send writes one whole frame. */
  send(frame: Uint8Array): void;
  /** close ends the connection; onClose follows. */
  close(): void;
  /** onData receives bytes in order: any cut of the stream, or one frame per call. */
  onData?: (chunk: Uint8Array) => void;
  /** onClose is called once when the connection has ended, with the cause if it failed. */
  onClose?: (error?: Error) => void;
}

/** Connect opens a new transport to the gate; the session calls it again to reconnect. */
export type Connect = () => Promise<Transport>;

/** HiveError is a refusal by the server: a failed login, or msg.Error.Res for a request. */
export class HiveError extends Error {
  /** The result code. */
  readonly code: ResCode;
  /** The request it answers (e.g. "msg.Login.Req"). */
  readonly api: string;
  /** The server's detail, if any. */
  readonly detail: string;
  constructor(code: ResCode, api: string, detail = "") {
    super(`hive: ${api}: ${ResCode[code] ?? code}${detail ? ": " + detail : ""}`);
    this.name = "HiveError";
    this.code = code;
    this.api = api;
    this.detail = detail;
  }
}

/** TimeoutError: no answer within the call's time limit. */
export class TimeoutError extends Error {
  constructor(api: string, ms: number) {
    super(`hive: ${api}: no answer within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** SessionClosedError: the session ended (or lost its connection) before the answer came. */
export class SessionClosedError extends Error {
  /** The kick's code when a kick ended the session. */
  readonly code?: ResCode;
  constructor(reason: string, code?: ResCode) {
    super(`hive: session closed: ${reason}`);
    this.name = "SessionClosedError";
    this.code = code;
  }
}

/** Reconnection policy: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** First wait in ms (default 500). */
  initialDelayMs?: number;
  /** Longest wait in ms (default 15000). */
  maxDelayMs?: number;
  /** Attempts before giving up (default unlimited). */
  maxAttempts?: number;
}

/** Options of Session.connect. */
export interface SessionOptions {
  /** Time limit of a call (login included) in ms, unless the call sets its own (default 10000). */
  timeoutMs?: number;
  /**
   * Reconnect after a lost connection and log in again with the same token.
   * Off by default. Never after a kick or close().
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Send msg.Echo.Req when nothing was sent for this many ms, so the gate's
   * idle timeout (--gate-idle-timeout, 1 min by default) does not end a
   * session that only waits for pushes. 0 (default) sends none.
   */
  heartbeatMs?: number;
}

/** Why the session ended, as given to the "close" event. */
export interface CloseInfo {
  /** In words: the kick's reason, "closed by client", the connection error. */
  reason: string;
  /** The kick's code (RC_LOGIN_KICKED, RC_GATE_DRAINING, ...) or the failed re-login's code. */
  code?: ResCode;
  /** The transport error, if the connection failed. */
  error?: Error;
}

/** The events of a session and their listeners. */
export interface SessionEvents {
  /** A message the server sent unasked: msg.GetItems.Res after an item change, msg.GetMails.Res for a new mail, ... */
  push: (res: Response) => void;
  /** msg.Kick.Res: the server ends the session (a newer login, drain, an operator). "close" follows. */
  kick: (kick: { code: ResCode; reason: string }) => void;
  /** The connection was lost and the session is reconnecting. */
  disconnect: (info: { reason: string; error?: Error }) => void;
  /** The session is connected and logged in again. */
  reconnect: (info: { user?: User; attempt: number }) => void;
  /** The session has ended for good; calls reject with SessionClosedError. */
  close: (info: CloseInfo) => void;
}

interface Waiter {
  api: string;
  resApi: string;
  frame: Uint8Array;
  login: boolean;
  resolve: (m: Response) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface InFlight {
  resApi: string;
  reqApi: string;
  /** null once the caller gave up: the late answer is still consumed. */
  waiter: Waiter | null;
}

type State = "connecting" | "open" | "reconnecting" | "closed";

/**
 * Session is a logged-in connection to a gate. Open one with
 * Session.connect. Requests go one at a time, as the gate serves them:
 * while msg.X.Req is in flight the first msg.X.Res (or msg.Error.Res) that
 * arrives answers it, and every other message is a push. msg.GetItems.Res is
 * both an answer and a push; a push of it in that window is taken as the
 * answer, and the real answer, arriving next, as a push: both carry the
 * player's current items.
 */
export class Session {
  private state: State = "connecting";
  private transport: Transport | null = null;
  private decoder = new FrameDecoder();
  private queue: Waiter[] = [];
  private inflight: InFlight | null = null;
  private listeners: { [K in keyof SessionEvents]?: Set<SessionEvents[K]> } = {};
  private lastSend = 0;
  private heartbeat?: ReturnType<typeof setInterval>;
  private closeInfo?: CloseInfo;
  private readonly timeoutMs: number;
  private readonly reconnectOpts: Required<ReconnectOptions> | null;
  private currentUser?: User;

  private constructor(
    private readonly connectFn: Connect,
    private readonly token: string,
    opts: SessionOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const r = opts.reconnect;
    this.reconnectOpts = r
      ? { initialDelayMs: 500, maxDelayMs: 15_000, maxAttempts: Infinity, ...(r === true ? {} : r) }
      : null;
    const hb = opts.heartbeatMs ?? 0;
    if (hb > 0) {
      this.heartbeat = setInterval(() => {
        if (this.state === "open" && !this.inflight && this.queue.length === 0 && Date.now() - this.lastSend >= hb) {
          this.call(create(Echo_ReqSchema, {})).catch(() => {});
        }
      }, Math.max(1, hb / 2));
    }
  }

  /**
   * connect opens a transport, logs in with token (uc's answer) and
   * resolves with the logged-in session. A refused login rejects with a
   * HiveError carrying the code (RC_LOGIN_TOKEN_EXPIRED, ...).
   */
  static async connect(connect: Connect, token: string, opts: SessionOptions = {}): Promise<Session> {
    const s = new Session(connect, token, opts);
    try {
      await s.attach(await connect());
      const res = await s.login();
      if (res.code !== ResCode.RC_OK) throw new HiveError(res.code, "msg.Login.Req");
    } catch (e) {
      s.finish({ reason: (e as Error).message, error: e as Error });
      throw e;
    }
    return s;
  }

  /** user is the player as the last successful login answered it. */
  get user(): User | undefined {
    return this.currentUser;
  }

  /** closed is true once the session has ended for good. */
  get closed(): boolean {
    return this.state === "closed";
  }

  /** on adds a listener and returns a function that removes it. */
  on<K extends keyof SessionEvents>(event: K, listener: SessionEvents[K]): () => void {
    let set = this.listeners[event] as Set<SessionEvents[K]> | undefined;
    if (!set) {
      set = new Set();
      (this.listeners as Record<string, Set<SessionEvents[K]>>)[event] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * call sends req (a msg.X.Req) and resolves with its msg.X.Res, whatever
   * its code (read res.code). It rejects with MissingRequiredError before
   * sending a request that lacks a required field, HiveError when the server
   * answers msg.Error.Res, TimeoutError after timeoutMs (waiting for earlier
   * calls included), SessionClosedError when the session ends or loses its
   * connection first. After a timeout the late answer is still consumed:
   * the next call is sent once it has arrived.
   */
  call<Req extends Request>(req: Req, opts: { timeoutMs?: number } = {}): Promise<ResponseOf<Req>> {
    return this.enqueue(req, opts.timeoutMs ?? this.timeoutMs, false) as Promise<ResponseOf<Req>>;
  }

  /** close ends the session (no reconnect). Calls waiting reject. */
  close(): void {
    this.finish({ reason: "closed by client" });
  }

  private enqueue(req: Request, timeoutMs: number, login: boolean): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const api = req.$typeName;
      if (!api.startsWith("msg.") || !api.endsWith(".Req")) {
        throw new Error(`hive: ${api} is not a request (msg.X.Req)`);
      }
      const frame = encodeMessage(req); // throws MissingRequiredError: nothing is sent
      if (this.state === "closed") {
        throw new SessionClosedError(this.closeInfo?.reason ?? "closed", this.closeInfo?.code);
      }
      const w: Waiter = { api, resApi: responseApi(api), frame, login, resolve, reject };
      w.timer = setTimeout(() => {
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
        if (this.inflight?.waiter === w) this.inflight.waiter = null;
        reject(new TimeoutError(api, timeoutMs));
      }, timeoutMs);
      if (login) this.queue.unshift(w);
      else this.queue.push(w);
      this.pump();
    });
  }

  private async login(): Promise<Login_Res> {
    const res = (await this.enqueue(create(Login_ReqSchema, { token: this.token }), this.timeoutMs, true)) as Login_Res;
    if (res.code === ResCode.RC_OK) {
      this.currentUser = res.user;
      this.state = "open";
      this.pump();
    }
    return res;
  }

  /** pump sends the next waiting request when none is in flight. */
  private pump(): void {
    if (this.inflight || !this.transport || this.queue.length === 0) return;
    // Until logged in only the login goes out.
    const w = this.state === "open" ? this.queue[0] : this.queue[0].login ? this.queue[0] : undefined;
    if (!w) return;
    this.queue.shift();
    this.inflight = { reqApi: w.api, resApi: w.resApi, waiter: w };
    this.lastSend = Date.now();
    try {
      this.transport.send(w.frame);
    } catch (e) {
      this.lost(e as Error);
    }
  }

  private attach(t: Transport): void {
    this.transport = t;
    this.decoder = new FrameDecoder();
    t.onData = (chunk) => {
      if (this.transport !== t) return;
      try {
        for (const f of this.decoder.push(chunk)) {
          if (this.transport !== t) return;
          const m = decodeMessage(f.api, f.payload);
          if (m !== undefined) this.dispatch(f.api, m);
        }
      } catch (e) {
        t.close();
        this.lost(e as Error);
      }
    };
    t.onClose = (err) => {
      if (this.transport === t) this.lost(err ?? new Error("connection closed by server"));
    };
  }

  private dispatch(api: string, m: Response): void {
    if (api === "msg.Kick.Res") {
      const k = m as Kick_Res;
      this.emit("kick", { code: k.code as ResCode, reason: k.reason });
      this.finish({ reason: k.reason || "kicked", code: k.code as ResCode });
      return;
    }
    const p = this.inflight;
    if (p && (api === p.resApi || (api === "msg.Error.Res" && errorFor(m as Error_Res, p)))) {
      this.inflight = null;
      const w = p.waiter;
      if (w) {
        clearTimeout(w.timer);
        if (api === "msg.Error.Res") {
          const e = m as Error_Res;
          w.reject(new HiveError(e.code as ResCode, p.reqApi, e.detail));
        } else {
          w.resolve(m);
        }
      }
      this.pump();
      return;
    }
    this.emit("push", m);
  }

  /** lost handles the end of the current connection. */
  private lost(error: Error): void {
    if (this.state === "closed") return;
    this.transport = null;
    const p = this.inflight;
    this.inflight = null;
    if (p?.waiter) {
      clearTimeout(p.waiter.timer);
      p.waiter.reject(new SessionClosedError(`connection lost: ${error.message}`));
    }
    if (this.state === "reconnecting") return; // a re-login failed: the reconnect loop goes on
    if (!this.reconnectOpts || this.state !== "open") {
      this.finish({ reason: error.message, error });
      return;
    }
    this.state = "reconnecting";
    this.emit("disconnect", { reason: error.message, error });
    void this.reconnectLoop(this.reconnectOpts);
  }

  private async reconnectLoop(o: Required<ReconnectOptions>): Promise<void> {
    let delay = o.initialDelayMs;
    for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
      // Full jitter between half and all of the delay, so clients cut off
      // together do not come back together.
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
      if (this.closed) return;
      let t: Transport;
      try {
        t = await this.connectFn();
      } catch {
        delay = Math.min(delay * 2, o.maxDelayMs);
        continue;
      }
      if (this.closed) {
        t.close();
        return;
      }
      this.attach(t);
      let res: Login_Res;
      try {
        res = await this.login();
      } catch {
        if (this.closed) return;
        this.transport = null;
        this.inflight = null;
        t.close();
        delay = Math.min(delay * 2, o.maxDelayMs);
        continue;
      }
      if (res.code !== ResCode.RC_OK) {
        // The token is refused (expired, revoked): retrying cannot help.
        this.finish({ reason: `login refused: ${ResCode[res.code] ?? res.code}`, code: res.code });
        return;
      }
      this.emit("reconnect", { user: res.user, attempt });
      return;
    }
    this.finish({ reason: `gave up reconnecting after ${o.maxAttempts} attempts` });
  }

  /** finish ends the session for good. */
  private finish(info: CloseInfo): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeInfo = info;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    const t = this.transport;
    this.transport = null;
    t?.close();
    const err = new SessionClosedError(info.reason, info.code);
    const waiting = [...(this.inflight?.waiter ? [this.inflight.waiter] : []), ...this.queue];
    this.inflight = null;
    this.queue = [];
    for (const w of waiting) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.emit("close", info);
  }

  private emit<K extends keyof SessionEvents>(event: K, ...args: Parameters<SessionEvents[K]>): void {
    const set = this.listeners[event] as Set<(...a: Parameters<SessionEvents[K]>) => void> | undefined;
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        // A listener's bug must not break the session's bookkeeping.
        console.error("hive: session listener threw:", e);
      }
    }
  }
}

/** errorFor: msg.Error.Res answers the request in flight when it names its request or answer, or none. */
function errorFor(e: Error_Res, p: InFlight): boolean {
  return e.api === "" || e.api === p.reqApi || e.api === p.resApi;
}
