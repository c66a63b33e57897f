// The frame codec of PROTOCOL.md §2: u16 LE size (bytes after itself),
// u16 LE api_size, api (the message's full name), payload (protobuf).
import { fromBinary, toBinary, type Message } from "@bufbuild/protobuf";
import { missingRequired, schemaOf, type Response } from "./messages.js";

/** Largest value of the size field: a frame holds at most 65535 bytes after it. */
export const MAX_FRAME = 0xffff;

/** Bytes of size and api_size. */
export const HEADER_SIZE = 4;

/** ProtocolError is a frame or payload that breaks PROTOCOL.md §2; the session ends. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** MissingRequiredError refuses to send a message lacking proto2 required fields. */
export class MissingRequiredError extends Error {
  /** The fields not set, as "msg.GiftItems.Req.item_num". */
  readonly fields: string[];
  constructor(fields: string[]) {
    super(`hive: required field${fields.length > 1 ? "s" : ""} not set: ${fields.join(", ")}`);
    this.name = "MissingRequiredError";
    this.fields = fields;
  }
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** encodeFrame builds one frame from an api name and a protobuf payload. */
export function encodeFrame(api: string, payload: Uint8Array): Uint8Array {
  const a = utf8.encode(api);
  if (a.length === 0) throw new ProtocolError("hive: empty api");
  const size = 2 + a.length + payload.length;
  if (size > MAX_FRAME) throw new ProtocolError(`hive: frame of ${size} bytes after size, over ${MAX_FRAME}`);
  const out = new Uint8Array(2 + size);
  const v = new DataView(out.buffer);
  v.setUint16(0, size, true);
  v.setUint16(2, a.length, true);
  out.set(a, 4);
  out.set(payload, 4 + a.length);
  return out;
}

/**
 * encodeMessage builds the frame of message m: api = its full name. It throws
 * MissingRequiredError when a proto2 required field is not set.
 */
export function encodeMessage(m: Message): Uint8Array {
  const schema = schemaOf(m.$typeName);
  if (schema === undefined) throw new Error(`hive: ${m.$typeName} is not a Hive message`);
  const missing = missingRequired(schema, m);
  if (missing.length > 0) throw new MissingRequiredError(missing);
  return encodeFrame(m.$typeName, toBinary(schema, m));
}

/** A frame split into its api name and payload bytes. */
export interface RawFrame {
  api: string;
  payload: Uint8Array;
}

/**
 * decodeMessage parses a payload as the message named api. It returns
 * undefined for an api this SDK does not know (sent by a newer server), and
 * throws ProtocolError for a payload that does not parse. Missing required
 * fields are accepted (read as zero), as the Go SDK does.
 */
export function decodeMessage(api: string, payload: Uint8Array): Response | undefined {
  const schema = schemaOf(api);
  if (schema === undefined) return undefined;
  try {
    return fromBinary(schema, payload) as unknown as Response;
  } catch (e) {
    throw new ProtocolError(`hive: payload of ${api} does not parse: ${(e as Error).message}`);
  }
}

/**
 * FrameDecoder cuts a byte stream (TCP chunks, or one WebSocket message per
 * frame) into frames. push returns the whole frames completed by a chunk and
 * keeps the rest; a frame that breaks §2 throws ProtocolError.
 */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0);

  /** push adds bytes and returns every frame now complete. */
  push(chunk: Uint8Array): RawFrame[] {
    if (this.buf.length === 0) {
      this.buf = chunk;
    } else {
      const b = new Uint8Array(this.buf.length + chunk.length);
      b.set(this.buf, 0);
      b.set(chunk, this.buf.length);
      this.buf = b;
    }
    const frames: RawFrame[] = [];
    let off = 0;
    while (this.buf.length - off >= 2) {
      const v = new DataView(this.buf.buffer, this.buf.byteOffset + off);
      const size = v.getUint16(0, true);
      if (size < 2) throw new ProtocolError(`hive: frame size ${size}: no room for api_size`);
      if (this.buf.length - off < 2 + size) break;
      const apiSize = v.getUint16(2, true);
      if (apiSize === 0) throw new ProtocolError("hive: frame with an empty api");
      if (apiSize > size - 2) throw new ProtocolError(`hive: api_size ${apiSize} past the end of a ${size}-byte frame`);
      let api: string;
      try {
        api = utf8Decoder.decode(this.buf.subarray(off + 4, off + 4 + apiSize));
      } catch {
        throw new ProtocolError("hive: api is not UTF-8");
      }
      frames.push({ api, payload: this.buf.slice(off + 4 + apiSize, off + 2 + size) });
      off += 2 + size;
    }
    this.buf = this.buf.slice(off);
    return frames;
  }

  /** pending is the number of bytes of an incomplete frame held. */
  get pending(): number {
    return this.buf.length;
  }
}
