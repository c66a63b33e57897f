// The browser-safe entry point of the Hive SDK: message types, the frame
// codec, uc's REST calls, the transport-independent session and the
// WebSocket transport. The TCP transport is in "@qeetap/hive/node".
export * from "./frame.js";
export * from "./messages.js";
export * from "./session.js";
export * from "./uc.js";
export * from "./ws.js";
export * from "./gen/def/def_pb.js";
export * from "./gen/msg/msg_pb.js";
export { create, isFieldSet, toBinary, fromBinary, toJson, fromJson, equals } from "@bufbuild/protobuf";
