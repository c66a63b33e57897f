// The WebSocket transport against a WebSocket server of the test's own (the
// "ws" package) playing the gate: close codes, text messages, no WebSocket.
import { strict as assert } from "node:assert";
import { after, before, test } from "node:test";
import { WebSocket, WebSocketServer, type WebSocket as ServerSocket } from "ws";
import {
  create,
  encodeMessage,
  Echo_ReqSchema,
  Echo_ResSchema,
  FrameDecoder,
  Login_ResSchema,
  Session,
  SessionClosedError,
  WebSocketClosedError,
  websocket,
  connectWebSocket,
  type CloseInfo,
} from "../src/index.js";

let wss: WebSocketServer;
let url: string;
/** What the fake gate does with each connection after answering the login. */
let afterLogin: (ws: ServerSocket) => void = () => {};

before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
  wss.on("connection", (ws) => {
    const dec = new FrameDecoder();
    ws.on("message", (data: Buffer, isBinary) => {
      assert.ok(isBinary, "the SDK sends binary messages only");
      const frames = dec.push(new Uint8Array(data));
      assert.equal(frames.length, 1, "one frame per message");
      assert.equal(dec.pending, 0, "a whole frame per message");
      const f = frames[0];
      if (f.api === "msg.Login.Req") {
        ws.send(encodeMessage(create(Login_ResSchema, { code: 0 })));
        afterLogin(ws);
      } else if (f.api === "msg.Echo.Req") {
        ws.send(encodeMessage(create(Echo_ResSchema, { val: 7n })));
      }
    });
  });
});

after(() => {
  for (const c of wss.clients) c.terminate();
  wss.close();
});

const opts = { WebSocket };

async function closedBy(serverSide: (ws: ServerSocket) => void): Promise<CloseInfo> {
  afterLogin = serverSide;
  const s = await connectWebSocket(url, "token", opts);
  const info = await new Promise<CloseInfo>((r) => s.on("close", r));
  await assert.rejects(s.call(create(Echo_ReqSchema, {})), SessionClosedError);
  return info;
}

test("login and a call over a WebSocket, one frame per binary message", async () => {
  afterLogin = () => {};
  const s = await connectWebSocket(url, "token", opts);
  assert.equal((await s.call(create(Echo_ReqSchema, { val: 1n }))).val, 7n);
  s.close();
});

for (const [code, want] of [
  [1013, /full/],
  [1009, /too large/],
  [1003, /text message/],
  [1001, /going away/],
] as const) {
  test(`close code ${code} ends the session with its meaning`, async () => {
    const info = await closedBy((ws) => setTimeout(() => ws.close(code, "by the test"), 10));
    assert.match(info.reason, want);
    assert.match(info.reason, /by the test/);
    assert.ok(info.error instanceof WebSocketClosedError);
    assert.equal(info.error.closeCode, code);
  });
}

test("a connection cut without a close frame is 1006: connection lost", async () => {
  const info = await closedBy((ws) => setTimeout(() => ws.terminate(), 10));
  assert.match(info.reason, /connection lost/);
  assert.equal((info.error as WebSocketClosedError).closeCode, 1006);
});

test("a text message from the gate ends the session: it is not a frame", async () => {
  const info = await closedBy((ws) => setTimeout(() => ws.send("hello"), 10));
  assert.match(info.reason, /text message/);
});

test("a lost WebSocket reconnects and logs in again", async () => {
  let logins = 0;
  afterLogin = (ws) => {
    if (++logins === 1) setTimeout(() => ws.terminate(), 10);
  };
  const s = await Session.connect(websocket(url, opts), "token", { reconnect: { initialDelayMs: 10 } });
  const reconnected = new Promise((r) => s.on("reconnect", r));
  await reconnected;
  assert.equal(logins, 2);
  assert.equal((await s.call(create(Echo_ReqSchema, {}))).val, 7n);
  s.close();
});

test("a refused handshake rejects connect with the cause", async () => {
  await assert.rejects(connectWebSocket(url.replace(/:\d+/, ":1"), "token", opts), /connect ws:\/\/127\.0\.0\.1:1\/: .*1006/);
});

test("without a WebSocket class (Node 20) websocket() says what to pass", (t) => {
  if ((globalThis as { WebSocket?: unknown }).WebSocket !== undefined) {
    t.skip("this Node has a global WebSocket");
    return;
  }
  assert.throws(() => websocket(url), /"ws" package/);
  assert.throws(() => websocket("http://x/", opts), /not ws:\/\//);
});
