// Session rules that a real server does not produce on demand, over an
// in-memory transport that plays the gate's side with real frames.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  encodeFrame,
  encodeMessage,
  Error_ResSchema,
  FrameDecoder,
  GetItems_ReqSchema,
  GetItems_ResSchema,
  HiveError,
  ItemSchema,
  Login_ResSchema,
  ResCode,
  Session,
  type Response,
  type Transport,
} from "../src/index.js";

/** A transport whose far end is the test: it sees each frame sent and answers. */
class Pipe implements Transport {
  onData?: (chunk: Uint8Array) => void;
  onClose?: (error?: Error) => void;
  readonly sent: string[] = [];
  private readonly dec = new FrameDecoder();
  private wake?: () => void;
  closed = false;

  send(frame: Uint8Array): void {
    for (const f of this.dec.push(frame)) this.sent.push(f.api);
    this.wake?.();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.onClose?.());
  }
  /** reply delivers bytes to the session as the gate would. */
  reply(bytes: Uint8Array): void {
    queueMicrotask(() => this.onData?.(bytes));
  }
  /** sentCount waits until n frames were sent. */
  async sentCount(n: number): Promise<void> {
    while (this.sent.length < n) await new Promise<void>((r) => (this.wake = r));
  }
}

async function loggedIn(): Promise<{ s: Session; pipe: Pipe }> {
  const pipe = new Pipe();
  const p = Session.connect(async () => pipe, "token");
  await pipe.sentCount(1);
  assert.equal(pipe.sent[0], "msg.Login.Req");
  pipe.reply(encodeMessage(create(Login_ResSchema, { code: 0 })));
  return { s: await p, pipe };
}

test("msg.Error.Res for the request in flight rejects the call with its code and detail", async () => {
  const { s, pipe } = await loggedIn();
  const call = s.call(create(GetItems_ReqSchema, {}));
  await pipe.sentCount(2);
  pipe.reply(encodeMessage(create(Error_ResSchema, { code: ResCode.RC_API_UNKNOWN, api: "msg.GetItems.Req", detail: "no" })));
  await assert.rejects(call, (e: unknown) => {
    assert.ok(e instanceof HiveError);
    assert.equal(e.code, ResCode.RC_API_UNKNOWN);
    assert.equal(e.detail, "no");
    return true;
  });
  s.close();
});

test("a message while nothing is in flight is a push; calls go one at a time, in order", async () => {
  const { s, pipe } = await loggedIn();
  const pushes: Response[] = [];
  const firstPush = new Promise((r) => s.on("push", r));
  s.on("push", (r) => pushes.push(r));
  const items = (n: bigint) =>
    encodeMessage(create(GetItems_ResSchema, { code: 0, items: [create(ItemSchema, { id: 1n, idx: 100, num: n, createTime: 0n, updateTime: 0n })] }));
  pipe.reply(items(5n));
  await firstPush;
  const first = s.call(create(GetItems_ReqSchema, { idx: 1 }));
  const second = s.call(create(GetItems_ReqSchema, { idx: 2 }));
  await pipe.sentCount(2);
  // The second waits for the first's answer.
  assert.equal(pipe.sent.length, 2);
  pipe.reply(items(6n));
  assert.equal((await first).items[0].num, 6n);
  await pipe.sentCount(3);
  pipe.reply(items(7n));
  assert.equal((await second).items[0].num, 7n);
  assert.equal(pushes.length, 1);
  assert.equal(pushes[0].$typeName, "msg.GetItems.Res");
  s.close();
});

test("a frame that breaks the protocol ends the session with the reason", async () => {
  const { s, pipe } = await loggedIn();
  const closed = new Promise<{ reason: string }>((r) => s.on("close", r));
  const call = s.call(create(GetItems_ReqSchema, {}));
  await pipe.sentCount(2);
  pipe.reply(Uint8Array.of(0x04, 0x00, 0x00, 0x00, 0x08, 0x01)); // api_size 0
  assert.match((await closed).reason, /empty api/);
  await assert.rejects(call, /session closed/);
  assert.ok(pipe.closed);
});

test("a frame with a payload that does not parse ends the session", async () => {
  const { s, pipe } = await loggedIn();
  const closed = new Promise<{ reason: string }>((r) => s.on("close", r));
  pipe.reply(encodeFrame("msg.GetItems.Res", Uint8Array.of(0xff, 0xff, 0xff, 0xff)));
  assert.match((await closed).reason, /does not parse/);
  void toBinary;
});
