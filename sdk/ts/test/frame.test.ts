import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { create, equals, fromJson, type JsonValue } from "@bufbuild/protobuf";
import {
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  GiftItems_ReqSchema,
  MissingRequiredError,
  ProtocolError,
  SetEvent_ReqSchema,
  schemaOf,
  missingRequired,
  EventSchema,
  Login_ResSchema,
  type Response,
} from "../src/index.js";

const here = dirname(fileURLToPath(import.meta.url));
// dist/test -> the repository's proto/frame/testdata.
const vectorsFile = resolve(here, "../../../../proto/frame/testdata/vectors.json");

interface Vector {
  name: string;
  api?: string;
  frame_hex: string;
  message?: JsonValue;
  expect: string;
  note?: string;
}

const vectors: Vector[] = JSON.parse(readFileSync(vectorsFile, "utf8"));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));

test("the vectors cover decode and close cases", () => {
  assert.ok(vectors.some((v) => v.expect === "decode"));
  assert.ok(vectors.some((v) => v.expect === "close"));
});

for (const v of vectors.filter((v) => v.expect === "decode")) {
  test(`vector ${v.name}: decodes whole and byte by byte, re-encodes to the same bytes`, () => {
    const frame = hex(v.frame_hex);
    const schema = schemaOf(v.api!);
    assert.ok(schema, `schema of ${v.api}`);
    const want = fromJson(schema, v.message!);
    for (const cuts of [[frame], [...frame].map((b) => Uint8Array.of(b))]) {
      const d = new FrameDecoder();
      const frames = cuts.flatMap((c) => d.push(c));
      assert.equal(frames.length, 1);
      assert.equal(d.pending, 0);
      assert.equal(frames[0].api, v.api);
      const got = decodeMessage(frames[0].api, frames[0].payload);
      assert.ok(got);
      assert.ok(equals(schema, got, want), `decoded ${v.name} differs from its message`);
      // Every required field (zero included) is on the wire again.
      assert.deepEqual(Buffer.from(encodeMessage(got)).toString("hex"), v.frame_hex);
      assert.deepEqual(Buffer.from(encodeMessage(want as Response)).toString("hex"), v.frame_hex);
    }
  });
}

for (const v of vectors.filter((v) => v.expect === "close")) {
  test(`vector ${v.name}: refused (${v.note})`, () => {
    const frame = hex(v.frame_hex);
    assert.throws(() => {
      const frames = new FrameDecoder().push(frame);
      for (const f of frames) decodeMessage(f.api, f.payload);
    }, ProtocolError);
  });
}

test("two frames in one chunk and a frame cut across chunks", () => {
  const a = hex(vectors.find((v) => v.name === "echo_req")!.frame_hex);
  const b = hex(vectors.find((v) => v.name === "kick_res")!.frame_hex);
  const all = new Uint8Array([...a, ...b, ...a]);
  const d = new FrameDecoder();
  const first = d.push(all.subarray(0, a.length + b.length + 3));
  assert.deepEqual(first.map((f) => f.api), ["msg.Echo.Req", "msg.Kick.Res"]);
  assert.equal(d.pending, 3);
  assert.deepEqual(d.push(all.subarray(a.length + b.length + 3)).map((f) => f.api), ["msg.Echo.Req"]);
});

test("an unknown api decodes to undefined (a newer server's message is skipped)", () => {
  assert.equal(decodeMessage("msg.NoSuch.Res", new Uint8Array()), undefined);
});

test("a frame over 65535 bytes is refused", () => {
  assert.throws(() => encodeFrame("msg.Echo.Req", new Uint8Array(65535)), ProtocolError);
});

test("a request lacking a required field is refused before it is encoded", () => {
  // item_num is left out: it must not go out as 0.
  const gift = create(GiftItems_ReqSchema, { dstId: 10002n, itemIdx: 100 });
  assert.equal(gift.itemNum, 0);
  assert.throws(() => encodeMessage(gift), (e: unknown) => {
    assert.ok(e instanceof MissingRequiredError);
    assert.deepEqual(e.fields, ["msg.GiftItems.Req.item_num"]);
    return true;
  });
  // Zero set on purpose is sent.
  const zero = create(GiftItems_ReqSchema, { dstId: 10002n, itemIdx: 100, itemNum: 0 });
  assert.deepEqual(missingRequired(GiftItems_ReqSchema, zero), []);
  // Nested: def.Event.oper is required inside SetEvent.Req.event.
  const ev = create(SetEvent_ReqSchema, { event: create(EventSchema, { argStr: "neo" }) });
  assert.deepEqual(missingRequired(SetEvent_ReqSchema, ev), ["def.Event.oper"]);
  assert.deepEqual(missingRequired(SetEvent_ReqSchema, create(SetEvent_ReqSchema, {})), ["msg.SetEvent.Req.event"]);
});

test("int64 fields are bigint", () => {
  const v = vectors.find((v) => v.name === "login_res_ok")!;
  const d = new FrameDecoder().push(hex(v.frame_hex))[0];
  const res = decodeMessage(d.api, d.payload);
  assert.equal(res?.$typeName, Login_ResSchema.typeName);
  if (res?.$typeName === "msg.Login.Res") assert.equal(res.user?.id, 10001n);
});
