// Type-level and run-time lookups of the generated messages by their full
// protobuf name, the api string on the wire (PROTOCOL.md §2).
import { createRegistry, isFieldSet, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { file_def_def } from "./gen/def/def_pb.js";
import type * as M from "./gen/msg/msg_pb.js";
import { file_msg_msg } from "./gen/msg/msg_pb.js";

type Generated = typeof M;

/** The msg.* messages by full name ("msg.GetItems.Req" -> GetItems_Req). */
export type MsgByName = {
  [K in keyof Generated as Generated[K] extends GenMessage<infer T>
    ? T extends { $typeName: infer N extends string } ? N : never
    : never]: Generated[K] extends GenMessage<infer T> ? T : never;
};

/** A client request: any msg.X.Req message. */
export type Request = MsgByName[Extract<keyof MsgByName, `msg.${string}.Req`>];

/** Any answer or push: any msg.X.Res message. */
export type Response = MsgByName[Extract<keyof MsgByName, `msg.${string}.Res`>];

/** The answer type of request Req: msg.X.Res for msg.X.Req. */
export type ResponseOf<Req extends Request> = Req["$typeName"] extends `msg.${infer X}.Req`
  ? `msg.${X}.Res` extends keyof MsgByName
    ? MsgByName[`msg.${X}.Res`]
    : never
  : never;

/** The registry of def.* and msg.* messages and enums. */
export const registry = createRegistry(file_def_def, file_msg_msg);

/** The schema of the message named api, or undefined for a name it does not know. */
export function schemaOf(api: string): DescMessage | undefined {
  return registry.getMessage(api);
}

/** responseApi maps "msg.X.Req" to "msg.X.Res" (the api of its answer). */
export function responseApi(reqApi: string): string {
  return reqApi.endsWith(".Req") ? reqApi.slice(0, -4) + ".Res" : reqApi;
}

/**
 * missingRequired lists the proto2 required fields not set in m, nested
 * messages included, as "msg.GiftItems.Req.item_num". An empty list means m
 * may be sent. A required field must be set explicitly (zero included): the
 * server refuses a request without it, and a zero that was never set is not
 * a zero the caller chose.
 */
export function missingRequired(schema: DescMessage, m: Message, prefix = ""): string[] {
  const out: string[] = [];
  const rec = m as unknown as Record<string, unknown>;
  for (const f of schema.fields) {
    const name = prefix + schema.typeName + "." + f.name;
    if (f.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED && !isFieldSet(m, f)) {
      out.push(name);
      continue;
    }
    if (f.fieldKind === "message" && isFieldSet(m, f)) {
      out.push(...missingRequired(f.message, rec[f.localName] as Message));
    } else if (f.fieldKind === "list" && f.listKind === "message") {
      for (const v of rec[f.localName] as Message[]) out.push(...missingRequired(f.message, v));
    }
  }
  return out;
}
