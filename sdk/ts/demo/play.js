// The demo game page: uc on this page's origin, the game over the gate's
// WebSocket, with the SDK bundled in hive.js (npm run bundle).
import {
  ClaimMail_ReqSchema, GetItems_ReqSchema, GetMails_ReqSchema, GiftItems_ReqSchema, ItemType, MailStatus,
  ReadMail_ReqSchema, ResCode, UcClient, connectWebSocket, create, newDeviceId,
} from "./hive.js";

const $ = (id) => document.getElementById(id);
const uc = new UcClient(location.origin);
const deviceKey = "hive.deviceId";
let session = null;

// The guest's only credential: kept in this browser.
function deviceId() {
  let id = localStorage.getItem(deviceKey);
  if (!/^[A-Za-z0-9_-]{22,128}$/.test(id ?? "")) {
    id = newDeviceId();
    localStorage.setItem(deviceKey, id);
  }
  return id;
}
$("device").textContent = deviceId();

function log(kind, text, api = "") {
  const li = document.createElement("li");
  li.dataset.kind = kind;
  if (api) li.dataset.api = api;
  li.textContent = `${new Date().toLocaleTimeString()} ${kind}: ${text}`;
  $("log").prepend(li);
}

const code = (c) => ResCode[c] ?? String(c);
const json = (m) => JSON.stringify(m, (k, v) => (k === "$typeName" ? undefined : typeof v === "bigint" ? v.toString() : v));

function setStatus(text) {
  $("status").textContent = text;
}

async function login(answer) {
  if (answer.code !== ResCode.RC_OK) {
    log("error", `uc: ${code(answer.code)}: ${answer.message}`);
    return;
  }
  if (!answer.wsUrl) {
    log("error", "uc gave no ws_url: the gate serves no WebSocket (--gate-ws-listen)");
    return;
  }
  session?.close();
  setStatus("connecting");
  try {
    session = await connectWebSocket(answer.wsUrl, answer.token, { reconnect: true, heartbeatMs: 30_000 });
  } catch (e) {
    setStatus("logged out");
    log("error", e.message);
    return;
  }
  const s = session;
  s.on("push", (res) => {
    log("push", `${res.$typeName} ${json(res)}`, res.$typeName);
    if (res.$typeName === "msg.GetItems.Res") showItems(res.items);
    if (res.$typeName === "msg.GetMails.Res") void refreshMails();
  });
  s.on("kick", (k) => log("kick", `${code(k.code)}: ${k.reason}`));
  s.on("disconnect", (d) => { setStatus("reconnecting"); log("disconnect", d.reason); });
  s.on("reconnect", (r) => { setStatus("playing"); log("reconnect", `attempt ${r.attempt}`); });
  s.on("close", (c) => {
    log("close", c.reason + (c.code !== undefined ? ` (${code(c.code)})` : ""));
    if (session === s) {
      session = null;
      setStatus("logged out");
      $("game").hidden = true;
      $("login").hidden = false;
    }
  });
  setStatus("playing");
  $("player").textContent = `as player ${s.user?.id}`;
  $("player").dataset.id = String(s.user?.id ?? "");
  $("login").hidden = true;
  $("game").hidden = false;
  await refreshItems();
  await refreshMails();
}

function showItems(items) {
  $("items").replaceChildren(...items.map((i) => row([ItemType[i.idx] ?? i.idx, i.num])));
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c);
    else td.textContent = String(c);
    tr.append(td);
  }
  return tr;
}

// act runs one call and reports a failure in the log.
async function act(fn) {
  try {
    await fn();
  } catch (e) {
    log("error", e.message);
  }
}

const refreshItems = () => act(async () => showItems((await session.call(create(GetItems_ReqSchema, {}))).items));

const refreshMails = () => act(async () => {
  const res = await session.call(create(GetMails_ReqSchema, {}));
  $("mails").replaceChildren(...res.mails.map((m) => {
    const buttons = document.createElement("span");
    for (const [label, schema] of [["read", ReadMail_ReqSchema], ["claim", ClaimMail_ReqSchema]]) {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset.action = label;
      b.onclick = () => act(async () => {
        const r = await session.call(create(schema, { id: m.id }));
        $("mail-result").textContent = `${label} ${m.id}: ${code(r.code)}`;
        await refreshMails();
      });
      buttons.append(b, " ");
    }
    const attached = m.items.map((i) => `${ItemType[i.idx] ?? i.idx}×${i.num}`).join(", ");
    return row([m.id, m.title, MailStatus[m.status] ?? m.status, attached, buttons]);
  }));
});

for (const [name, value] of Object.entries(ItemType)) {
  if (typeof value === "number") $("gift-item").append(new Option(name, String(value)));
}

$("guest").onclick = () => act(async () => login(await uc.guest(deviceId())));
$("auth").onclick = () => act(async () => login(await uc.auth($("username").value, $("password").value)));
$("register").onclick = () => act(async () => login(await uc.register($("username").value, $("password").value)));
$("refresh").onclick = refreshItems;
$("mail-refresh").onclick = refreshMails;
$("logout").onclick = () => session?.close();
$("gift").onclick = () => act(async () => {
  const out = $("gift-result");
  out.textContent = "";
  delete out.dataset.code;
  let dstId;
  try {
    dstId = BigInt($("gift-to").value.trim());
  } catch {
    out.textContent = "player id is a number";
    return;
  }
  const res = await session.call(create(GiftItems_ReqSchema, {
    dstId, itemIdx: Number($("gift-item").value), itemNum: Number($("gift-num").value),
  }));
  out.textContent = code(res.code);
  out.dataset.code = code(res.code);
});
