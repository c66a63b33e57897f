// The SDK against a real `hive dev`: uc's REST calls and whole sessions over
// TCP and WebSocket, the same tests for both.
import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import {
  create,
  Echo_ReqSchema,
  GetItems_ReqSchema,
  GiftItems_ReqSchema,
  HiveError,
  ItemType,
  MissingRequiredError,
  newDeviceId,
  ResCode,
  Session,
  SessionClosedError,
  TimeoutError,
  UcClient,
  connectTcp,
  FrameDecoder,
  tcp,
  websocket,
  WebSocketClosedError,
  type Connect,
  type Response,
  type SessionOptions,
  type Transport,
  type UcAnswer,
  type Auth_Res,
  type WebSocketTransport,
} from "../src/node.js";
import { TcpTransport } from "../src/node.js";
import { WebSocket } from "ws";
import { readdir, readFile } from "node:fs/promises";
import { startDev, type Dev } from "./support/dev.js";

// stopped resolves once every thread of process pid has taken a SIGSTOP:
// kill() only sends the signal, and on a busy machine the server may still
// answer a request sent at once. Reads /proc (Linux); elsewhere waits 100 ms.
async function stopped(pid: number): Promise<void> {
  const state = (stat: string) => stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  for (let i = 0; i < 200; i++) {
    let tasks: string[];
    try {
      tasks = await readdir(`/proc/${pid}/task`);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
      return;
    }
    const states = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/stat`, "utf8").then(state, () => "T")));
    if (states.every((st) => st === "T" || st === "t")) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} did not stop`);
}

// A test that waits for an event that never comes fails instead of hanging.
const limit = { timeout: 60_000 };

let dev: Dev;
let uc: UcClient;

before(async () => {
  dev = await startDev();
  uc = new UcClient(dev.ucUrl);
});

after(async () => {
  await dev?.stop();
});

/** next resolves with the first event for which pick returns a value. */
function next<T>(s: Session, pick: (res: Response) => T | undefined): Promise<T> {
  return new Promise((resolve) => {
    const off = s.on("push", (res) => {
      const v = pick(res);
      if (v !== undefined) {
        off();
        resolve(v);
      }
    });
  });
}

async function guest(deviceId = newDeviceId()) {
  const a = await uc.guest(deviceId);
  assert.equal(a.code, ResCode.RC_OK, a.message);
  return a;
}

const gold = (res: Response) =>
  res.$typeName === "msg.GetItems.Res" ? res.items.find((i) => i.idx === ItemType.ITEM_GOLD)?.num ?? 0n : undefined;

describe("uc REST", () => {
  test("register, auth, a duplicate, a bad device id: typed answers with code and message", limit, async () => {
    const name = `ts_${Date.now().toString(36)}`;
    const reg = await uc.register(name, "secret-pass-1");
    assert.equal(reg.code, ResCode.RC_OK, reg.message);
    assert.equal(reg.message, "");
    assert.equal(typeof reg.accountId, "bigint");
    assert.ok(reg.accountId > 0n);
    assert.ok(reg.expiresAt > BigInt(Math.floor(Date.now() / 1000)));
    assert.match(reg.addr, /:\d+$/);
    assert.ok(reg.token.length > 20);

    const dup = await uc.register(name, "secret-pass-1");
    assert.equal(dup.code, ResCode.RC_ACCOUNT_CREATE_DUPLICATE);
    assert.notEqual(dup.message, "");

    const bad = await uc.auth(name, "wrong-password");
    assert.notEqual(bad.code, ResCode.RC_OK);
    assert.notEqual(bad.message, "");

    const ok = await uc.auth(name, "secret-pass-1");
    assert.equal(ok.code, ResCode.RC_OK, ok.message);
    assert.equal(ok.accountId, reg.accountId);

    const short = await uc.guest("too-short");
    assert.equal(short.httpStatus, 400);
    assert.equal(short.code, ResCode.RC_BAD_REQUEST);
    assert.match(short.message, /device_id/);
  });

  test("guest, bind account, phone code, bind phone, change and reset password", limit, async () => {
    const device = newDeviceId();
    assert.match(device, /^[A-Za-z0-9_-]{22}$/);
    const g = await guest(device);
    const name = `tsb_${Date.now().toString(36)}`;
    const bound = await uc.bindAccount(g.token, g.accountId, name, "first-pass-1");
    assert.equal(bound.code, ResCode.RC_OK, bound.message);
    const again = await uc.guest(device);
    assert.equal(again.code, ResCode.RC_ACCOUNT_ALREADY_BOUND);

    const phone = `+86138${String(Date.now()).slice(-8)}`;
    const sent = await uc.requestCode(phone);
    assert.equal(sent.code, ResCode.RC_OK, sent.message);
    const code = await dev.codeFor(phone);
    const wrong = await uc.bindPhone(g.accountId, "first-pass-1", phone, code === "000000" ? "111111" : "000000");
    assert.equal(wrong.code, ResCode.RC_ACCOUNT_VERIFICATION_INVALID);
    const bp = await uc.bindPhone(g.accountId, "first-pass-1", phone, code);
    assert.equal(bp.code, ResCode.RC_OK, bp.message);

    const ch = await uc.changePassword(g.accountId, "first-pass-1", "second-pass-2");
    assert.equal(ch.code, ResCode.RC_OK, ch.message);
    assert.equal((await uc.auth(name, "second-pass-2")).code, ResCode.RC_OK);

    assert.equal((await uc.requestCode(phone)).code, ResCode.RC_OK);
    const rc = await uc.resetPassword(g.accountId, await dev.codeFor(phone), "third-pass-3");
    assert.equal(rc.code, ResCode.RC_OK, rc.message);
    assert.equal((await uc.auth(name, "third-pass-3")).code, ResCode.RC_OK);
    assert.notEqual((await uc.auth(name, "second-pass-2")).code, ResCode.RC_OK);
  });
});

type Login = UcAnswer<Auth_Res>;

/** A way to the gate: the same session tests run over each. */
interface Way {
  name: string;
  dial(a: Login): Connect;
  /** cut kills the connection under the session, as a network failure would. */
  cut(t: Transport): void;
  /** cutReason matches the disconnect's reason after cut. */
  cutReason: RegExp;
  /** ended resolves once the connection has ended. */
  ended(t: Transport): Promise<unknown>;
}

const wsOf = (t: Transport) => (t as WebSocketTransport).socket as unknown as WebSocket;

const ways: Way[] = [
  {
    name: "TCP",
    dial: (a) => tcp(a.addr),
    cut: (t) => (t as TcpTransport).socket.destroy(new Error("network cut")),
    cutReason: /network cut/,
    ended: (t) => new Promise((r) => (t as TcpTransport).socket.once("close", r)),
  },
  {
    name: "WebSocket",
    dial: (a) => {
      assert.ok(a.wsUrl, "uc's answer has no ws_url: hive dev should serve WebSocket");
      return websocket(a.wsUrl, { WebSocket });
    },
    cut: (t) => wsOf(t).terminate(),
    cutReason: /connection lost/,
    ended: (t) => new Promise((r) => wsOf(t).once("close", r)),
  },
];

for (const way of ways) describe(`${way.name} session`, () => {
  const connect = (a: Login, opts: SessionOptions = {}) => Session.connect(way.dial(a), a.token, opts);

  test("guest login, GetItems, a gift and the receiver's push, a refused request", limit, async () => {
    const a = await guest();
    const b = await guest();
    const sa = await connect(a);
    const sb = await connect(b);
    try {
      assert.equal(sa.user?.id, a.accountId);
      const items = await sa.call(create(GetItems_ReqSchema, {}));
      assert.equal(items.$typeName, "msg.GetItems.Res");
      assert.equal(items.code, ResCode.RC_OK);
      const before = gold(items) ?? 0n;
      assert.ok(before >= 10n, `starting gold ${before}`);
      const bBefore = gold(await sb.call(create(GetItems_ReqSchema, {}))) ?? 0n;

      const pushed = next(sb, (res) => {
        const g = gold(res);
        return g !== undefined && g === bBefore + 10n ? g : undefined;
      });
      // A forgotten required field is refused here, not sent as 0.
      await assert.rejects(
        sa.call(create(GiftItems_ReqSchema, { dstId: b.accountId, itemIdx: ItemType.ITEM_GOLD })),
        MissingRequiredError,
      );
      const gift = await sa.call(create(GiftItems_ReqSchema, { dstId: b.accountId, itemIdx: ItemType.ITEM_GOLD, itemNum: 10 }));
      assert.equal(gift.code, ResCode.RC_OK);
      assert.equal(await pushed, bBefore + 10n);
      assert.equal(gold(await sa.call(create(GetItems_ReqSchema, {}))), before - 10n);

      const self = await sa.call(create(GiftItems_ReqSchema, { dstId: a.accountId, itemIdx: ItemType.ITEM_GOLD, itemNum: 1 }));
      assert.equal(self.code, ResCode.RC_GIFT_SELF);
    } finally {
      sa.close();
      sb.close();
    }
  });

  test("a bad token is refused with its code", limit, async () => {
    const a = await guest();
    await assert.rejects(Session.connect(way.dial(a), "not-a-token"), (e: unknown) => {
      assert.ok(e instanceof HiveError);
      assert.equal(e.code, ResCode.RC_LOGIN_TOKEN_INVALID);
      return true;
    });
  });

  test("a login elsewhere kicks the older session, which does not reconnect", limit, async () => {
    const device = newDeviceId();
    const first = await guest(device);
    let connects = 0;
    let transport: Transport | undefined;
    const dial = way.dial(first);
    const s1 = await Session.connect(
      async () => {
        connects++;
        transport = await dial();
        return transport;
      },
      first.token,
      { reconnect: { initialDelayMs: 10 } },
    );
    let disconnects = 0;
    s1.on("disconnect", () => disconnects++);
    const kicked = new Promise<{ code: ResCode; reason: string }>((r) => s1.on("kick", r));
    const closed = new Promise<{ reason: string; code?: ResCode }>((r) => s1.on("close", r));
    const socketClosed = way.ended(transport!);

    const second = await guest(device);
    const s2 = await connect(second);
    try {
      const k = await kicked;
      assert.equal(k.code, ResCode.RC_LOGIN_KICKED);
      assert.notEqual(k.reason, "");
      const c = await closed;
      assert.equal(c.code, ResCode.RC_LOGIN_KICKED);
      assert.ok(s1.closed);
      await assert.rejects(s1.call(create(Echo_ReqSchema, {})), SessionClosedError);
      await socketClosed; // the connection's end is seen: still no reconnect
      assert.equal(disconnects, 0);
      assert.equal(connects, 1);
      assert.equal((await s2.call(create(GetItems_ReqSchema, {}))).code, ResCode.RC_OK);
    } finally {
      s1.close();
      s2.close();
    }
  });

  test("a call times out while the server is stopped; the late answer is not taken for the next", limit, async () => {
    const a = await guest();
    const s = await connect(a);
    try {
      dev.proc.kill("SIGSTOP");
      await stopped(dev.proc.pid!);
      try {
        await assert.rejects(s.call(create(Echo_ReqSchema, { val: 1n }), { timeoutMs: 300 }), TimeoutError);
      } finally {
        dev.proc.kill("SIGCONT");
      }
      const echo = await s.call(create(Echo_ReqSchema, { val: 2n }));
      assert.equal(echo.val, 2n);
    } finally {
      s.close();
    }
  });

  test("a cut connection reconnects and logs in again with the token", limit, async () => {
    const a = await guest();
    const transports: Transport[] = [];
    const dial = way.dial(a);
    const s = await Session.connect(
      async (): Promise<Transport> => {
        const t = await dial();
        transports.push(t);
        return t;
      },
      a.token,
      { reconnect: { initialDelayMs: 20, maxDelayMs: 200 } },
    );
    try {
      const disconnected = new Promise<{ reason: string }>((r) => s.on("disconnect", r));
      const reconnected = new Promise<{ attempt: number }>((r) => s.on("reconnect", r));
      // A network cut: the socket dies under the session.
      way.cut(transports[0]);
      assert.match((await disconnected).reason, way.cutReason);
      // A call made while reconnecting waits and goes out after the new login.
      const items = s.call(create(GetItems_ReqSchema, {}));
      await reconnected;
      assert.equal((await items).code, ResCode.RC_OK);
      assert.equal(transports.length, 2);
      assert.equal(s.user?.id, a.accountId);
      assert.ok(!s.closed);
    } finally {
      s.close();
    }
  });

  test("an idle session sends msg.Echo.Req as its heartbeat", limit, async () => {
    const a = await guest();
    const dial = way.dial(a);
    let echoes = 0;
    let sawEcho!: () => void;
    const echoed = new Promise<void>((r) => (sawEcho = r));
    const s = await Session.connect(
      async (): Promise<Transport> => {
        const t = await dial();
        const send = t.send.bind(t);
        t.send = (frame) => {
          if (new FrameDecoder().push(frame)[0]?.api === "msg.Echo.Req") {
            echoes++;
            sawEcho();
          }
          send(frame);
        };
        return t;
      },
      a.token,
      { heartbeatMs: 50 },
    );
    try {
      await echoed;
      assert.ok(echoes >= 1);
      assert.equal((await s.call(create(GetItems_ReqSchema, {}))).code, ResCode.RC_OK);
    } finally {
      s.close();
    }
  });
});

describe("WebSocket at the gate", () => {
  /** wsSession logs in over WebSocket and hands back its transport. */
  async function wsSession(a: Login): Promise<{ s: Session; t: Transport }> {
    let t!: Transport;
    const dial = ways[1].dial(a);
    const s = await Session.connect(async () => (t = await dial()), a.token);
    return { s, t };
  }

  test("a gift from a TCP player reaches a WebSocket player as a push", limit, async () => {
    const a = await guest();
    const b = await guest();
    const sa = await connectTcp(a.addr, a.token);
    const { s: sb } = await wsSession(b);
    try {
      const bBefore = gold(await sb.call(create(GetItems_ReqSchema, {}))) ?? 0n;
      const pushed = next(sb, (res) => (gold(res) === bBefore + 3n ? true : undefined));
      const gift = await sa.call(create(GiftItems_ReqSchema, { dstId: b.accountId, itemIdx: ItemType.ITEM_GOLD, itemNum: 3 }));
      assert.equal(gift.code, ResCode.RC_OK);
      assert.ok(await pushed);
    } finally {
      sa.close();
      sb.close();
    }
  });

  for (const [what, send, code] of [
    ["a text message", (ws: WebSocket) => ws.send("hello"), 1003],
    ["a message over the largest frame", (ws: WebSocket) => ws.send(new Uint8Array(70_000)), 1009],
    ["a message shorter than its frame's size", (ws: WebSocket) => ws.send(Uint8Array.of(0x08, 0x00, 0x01, 0x00)), 1007],
  ] as const) {
    test(`${what} ends the connection with close code ${code}, told in words`, limit, async () => {
      const { s, t } = await wsSession(await guest());
      const closed = new Promise<{ reason: string; error?: Error }>((r) => s.on("close", r));
      send(wsOf(t));
      const c = await closed;
      assert.ok(c.error instanceof WebSocketClosedError, `${c.reason}`);
      assert.equal(c.error.closeCode, code);
      assert.ok(s.closed);
    });
  }
});

describe("the demo page", () => {
  test("hive dev serves the checked-in page and SDK bundle at /play/", limit, async () => {
    const page = await fetch(`${dev.ucUrl}/play/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\.\/play\.js">/);
    const bundle = await fetch(`${dev.ucUrl}/play/hive.js`);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get("content-type") ?? "", /javascript/);
    const file = await readFile(new URL("../../demo/hive.js", import.meta.url), "utf8");
    assert.equal(await bundle.text(), file);
  });
});
