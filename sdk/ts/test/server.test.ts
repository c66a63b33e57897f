// The SDK against a real `hive dev`: uc's REST calls and whole TCP sessions.
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
  type Response,
  type Transport,
} from "../src/node.js";
import { TcpTransport } from "../src/node.js";
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

describe("TCP session", () => {
  test("guest login, GetItems, a gift and the receiver's push, a refused request", limit, async () => {
    const a = await guest();
    const b = await guest();
    const sa = await connectTcp(a.addr, a.token);
    const sb = await connectTcp(b.addr, b.token);
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
    await assert.rejects(connectTcp(dev.gateAddr, "not-a-token"), (e: unknown) => {
      assert.ok(e instanceof HiveError);
      assert.equal(e.code, ResCode.RC_LOGIN_TOKEN_INVALID);
      return true;
    });
  });

  test("a login elsewhere kicks the older session, which does not reconnect", limit, async () => {
    const device = newDeviceId();
    const first = await guest(device);
    let connects = 0;
    let transport: TcpTransport | undefined;
    const dial = tcp(first.addr);
    const s1 = await Session.connect(
      async () => {
        connects++;
        transport = (await dial()) as TcpTransport;
        return transport;
      },
      first.token,
      { reconnect: { initialDelayMs: 10 } },
    );
    let disconnects = 0;
    s1.on("disconnect", () => disconnects++);
    const kicked = new Promise<{ code: ResCode; reason: string }>((r) => s1.on("kick", r));
    const closed = new Promise<{ reason: string; code?: ResCode }>((r) => s1.on("close", r));
    const socketClosed = new Promise((r) => transport!.socket.once("close", r));

    const second = await guest(device);
    const s2 = await connectTcp(second.addr, second.token);
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
    const s = await connectTcp(a.addr, a.token);
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
    const transports: TcpTransport[] = [];
    const dial = tcp(a.addr);
    const s = await Session.connect(
      async (): Promise<Transport> => {
        const t = (await dial()) as TcpTransport;
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
      transports[0].socket.destroy(new Error("network cut"));
      assert.match((await disconnected).reason, /network cut/);
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
    const dial = tcp(a.addr);
    let echoes = 0;
    let sawEcho!: () => void;
    const echoed = new Promise<void>((r) => (sawEcho = r));
    const s = await Session.connect(
      async (): Promise<Transport> => {
        const t = (await dial()) as TcpTransport;
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
