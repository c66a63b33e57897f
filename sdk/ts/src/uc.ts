// The REST API of the account server, uc (PROTOCOL.md §3). Uses the
// standard fetch, so it runs in browsers and in Node 18+.
import { fromJson, type DescMessage, type JsonObject } from "@bufbuild/protobuf";
import type { ResCode } from "./gen/def/def_pb.js";
import {
  Auth_ResSchema,
  BindAccount_ResSchema,
  BindPhone_ResSchema,
  ChangePassword_ResSchema,
  ResetPassword_ResSchema,
  VerificationCode_ResSchema,
  type Auth_Res,
  type BindAccount_Res,
  type BindPhone_Res,
  type ChangePassword_Res,
  type ResetPassword_Res,
  type VerificationCode_Res,
} from "./gen/msg/msg_pb.js";

/** REST paths of uc. */
export const paths = {
  auth: "/v1/account/auth",
  register: "/v1/account/registry",
  bindAccount: "/v1/account/bind/account",
  verification: "/v1/verification",
  bindPhone: "/v1/account/bind/phone",
  changePassword: "/v1/account/password/change",
  resetPassword: "/v1/account/password/reset",
} as const;

/**
 * UcAnswer is uc's answer: the fields of the named Res (int64 as bigint),
 * `code` as the ResCode enum, and `message`, uc's reason in words on every
 * answer whose code is not RC_OK ("" otherwise). Program against `code`;
 * show or log `message` (its wording may change).
 */
export type UcAnswer<R extends { code: number }> = Omit<R, "code" | "$typeName" | "$unknown"> & {
  code: ResCode;
  message: string;
  /** HTTP status: 200 for every domain outcome, 400, 429 or 500 otherwise. */
  httpStatus: number;
  /** Seconds from Retry-After (on 429 and RC_ACCOUNT_LOCKED), or undefined. */
  retryAfter?: number;
};

/** UcError is an answer that is not a uc answer (no JSON, no code). */
export class UcError extends Error {
  /** HTTP status of the answer. */
  readonly httpStatus: number;
  constructor(message: string, httpStatus: number) {
    super(message);
    this.name = "UcError";
    this.httpStatus = httpStatus;
  }
}

/** Options of UcClient. */
export interface UcOptions {
  /** fetch to use (default: the global fetch). */
  fetch?: typeof fetch;
  /** Time limit of one call in milliseconds (default 10000). */
  timeoutMs?: number;
}

/**
 * UcClient calls uc. Every method resolves with uc's answer, whatever its
 * code, and rejects only when no uc answer arrived (network, timeout, a
 * body that is not uc's JSON).
 */
export class UcClient {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  /** baseUrl is uc's root, e.g. "http://127.0.0.1:8082". */
  constructor(baseUrl: string, opts: UcOptions = {}) {
    if (baseUrl === "") throw new Error("hive: uc base URL is empty");
    this.base = baseUrl.replace(/\/+$/, "");
    this.fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** register creates a named account (answered like auth). */
  register(username: string, password: string): Promise<UcAnswer<Auth_Res>> {
    return this.post(paths.register, { username, password }, Auth_ResSchema);
  }

  /** auth logs in with username and password. */
  auth(username: string, password: string): Promise<UcAnswer<Auth_Res>> {
    return this.post(paths.auth, { username, password }, Auth_ResSchema);
  }

  /**
   * guest logs in with a device id alone, creating the guest account on
   * first use. The id is the guest's only credential: 22 to 128 characters
   * of A-Z a-z 0-9 _ - from a secure random source (see newDeviceId), kept
   * by the client.
   */
  guest(deviceId: string): Promise<UcAnswer<Auth_Res>> {
    return this.post(paths.auth, { device_id: deviceId }, Auth_ResSchema);
  }

  /** bindAccount gives guest account accountId a username and password; token is that account's. */
  bindAccount(token: string, accountId: bigint, username: string, password: string): Promise<UcAnswer<BindAccount_Res>> {
    return this.post(paths.bindAccount, { account_id: accountId.toString(), username, password }, BindAccount_ResSchema, token);
  }

  /** requestCode asks uc to send a verification code to phone (E.164, "+8613800138000"). */
  requestCode(phone: string): Promise<UcAnswer<VerificationCode_Res>> {
    return this.post(paths.verification, { phone }, VerificationCode_ResSchema);
  }

  /** bindPhone binds phone to accountId, proven by the password and the code sent to the phone. */
  bindPhone(accountId: bigint, password: string, phone: string, code: string): Promise<UcAnswer<BindPhone_Res>> {
    return this.post(paths.bindPhone, { account_id: accountId.toString(), password, phone, code }, BindPhone_ResSchema);
  }

  /** changePassword replaces the password of accountId, given the current one. */
  changePassword(accountId: bigint, password: string, newPassword: string): Promise<UcAnswer<ChangePassword_Res>> {
    return this.post(paths.changePassword, { account_id: accountId.toString(), password, new_password: newPassword }, ChangePassword_ResSchema);
  }

  /** resetPassword sets a new password with a code sent to the account's bound phone. */
  resetPassword(accountId: bigint, code: string, newPassword: string): Promise<UcAnswer<ResetPassword_Res>> {
    return this.post(paths.resetPassword, { account_id: accountId.toString(), code, new_password: newPassword }, ResetPassword_ResSchema);
  }

  private async post<R extends { code: number }>(
    path: string,
    params: Record<string, string>,
    schema: DescMessage,
    token?: string,
  ): Promise<UcAnswer<R>> {
    // A form body is a "simple" request: browsers send it without a CORS
    // preflight (unless the Authorization header is set).
    const headers: Record<string, string> = {
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    };
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const res = await this.fetch(this.base + path, {
      method: "POST",
      headers,
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let obj: unknown;
    try {
      obj = JSON.parse(quoteBigIntegers(text));
    } catch {
      throw new UcError(`hive: ${path}: HTTP ${res.status}: answer is not JSON: ${snippet(text)}`, res.status);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj) || !("code" in obj)) {
      throw new UcError(`hive: ${path}: HTTP ${res.status}: no code in answer: ${snippet(text)}`, res.status);
    }
    const { message, ...fields } = obj as JsonObject;
    let m: R;
    try {
      m = fromJson(schema, fields, { ignoreUnknownFields: true }) as unknown as R;
    } catch (e) {
      throw new UcError(`hive: ${path}: HTTP ${res.status}: bad answer ${snippet(text)}: ${(e as Error).message}`, res.status);
    }
    const { $typeName: _t, $unknown: _u, ...rest } = m as R & { $typeName: string; $unknown?: unknown };
    const answer = { ...rest, code: m.code as ResCode, message: typeof message === "string" ? message : "", httpStatus: res.status } as UcAnswer<R>;
    const ra = res.headers.get("Retry-After");
    if (ra !== null && /^\d+$/.test(ra.trim())) answer.retryAfter = Number(ra.trim());
    return answer;
  }
}

/**
 * quoteBigIntegers puts quotes around integer literals too large for a JS
 * number, outside strings, so JSON.parse keeps them exact (uc writes int64s
 * as JSON numbers; fromJson reads strings and numbers alike).
 */
export function quoteBigIntegers(json: string): string {
  let out = "";
  let i = 0;
  let last = 0;
  while (i < json.length) {
    const c = json[i];
    if (c === '"') {
      i++;
      while (i < json.length && json[i] !== '"') i += json[i] === "\\" ? 2 : 1;
      i++;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      let j = i + 1;
      while (j < json.length && /[0-9.eE+-]/.test(json[j])) j++;
      const lit = json.slice(i, j);
      if (/^-?\d+$/.test(lit) && !Number.isSafeInteger(Number(lit))) {
        out += json.slice(last, i) + '"' + lit + '"';
        last = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  return out + json.slice(last);
}

function snippet(s: string): string {
  s = s.trim();
  return s.length > 200 ? s.slice(0, 200) + "..." : s;
}

/**
 * newDeviceId makes a guest device id: 16 bytes from the platform's secure
 * random source (crypto.getRandomValues) as 22 base64url characters. Keep
 * it: it is the guest account's only credential.
 */
export function newDeviceId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
