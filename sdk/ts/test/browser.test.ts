// The demo page in headless Chromium against a real `hive dev`: two guests
// in two browser profiles, a gift from one to the other, the push on the
// receiver's page, an operator mail claimed there, its kick when the
// account logs in elsewhere, then a login with username and password.
// Chromium comes from CHROME_PATH or /usr/bin/chromium (Debian: apt-get
// install chromium); puppeteer-core never downloads one. Without it the
// test skips, unless HIVE_REQUIRE_BROWSER=1, which makes it fail.
import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { connectTcp, ResCode, UcClient } from "../src/node.js";
import { startDev, type Dev } from "./support/dev.js";

const chrome = process.env.CHROME_PATH || "/usr/bin/chromium";
const haveChrome = existsSync(chrome);
const required = process.env.HIVE_REQUIRE_BROWSER === "1";
const skip =
  haveChrome || required
    ? false
    : `no Chromium at ${chrome}: skipping the browser test (apt-get install chromium, or set CHROME_PATH; HIVE_REQUIRE_BROWSER=1 makes this fail)`;

let dev: Dev;
let browser: Browser;

before(async () => {
  if (skip) return;
  assert.ok(haveChrome, `HIVE_REQUIRE_BROWSER=1 but no Chromium at ${chrome} (apt-get install chromium, or set CHROME_PATH)`);
  dev = await startDev({ nats: true }); // NATS for `hive admin mail`
  // --no-sandbox: the tests may run as root (CI containers).
  browser = await puppeteer.launch({ executablePath: chrome, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
});

after(async () => {
  await browser?.close();
  await dev?.stop();
});

/** open loads /play/ in a browser profile of its own (its own localStorage: its own guest). */
async function open(problems: string[]): Promise<Page> {
  const page = await (await browser.createBrowserContext()).newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${dev.ucUrl}/play/`);
  return page;
}

/** logText is the page's log of pushes, kicks and errors, newest first. */
const logText = (page: Page) => page.$eval("#log", (el) => (el as HTMLElement).innerText);

/** guestLogin logs the page in as its guest and returns the player id it shows. */
async function guestLogin(page: Page): Promise<string> {
  await page.click("#guest");
  const id = await page
    .waitForFunction(() => document.getElementById("player")?.dataset.id || undefined, { timeout: 30_000 })
    .then((h) => h.jsonValue() as Promise<string>)
    .catch(async (e) => assert.fail(`no login on the page: ${e}\nlog:\n${await logText(page)}`));
  assert.match(id, /^\d+$/);
  return id;
}

test("two players on the demo page: a gift and its push, a mail claimed, a kick, a password login", { skip, timeout: 120_000 }, async () => {
  const problems: string[] = [];
  const a = await open(problems);
  const b = await open(problems);
  const idA = await guestLogin(a);
  const idB = await guestLogin(b);
  assert.notEqual(idA, idB, "two profiles, two guests");
  const deviceB = await b.evaluate(() => localStorage.getItem("hive.deviceId"));
  assert.match(deviceB ?? "", /^[A-Za-z0-9_-]{22,}$/);

  // A gives B gold: the answer on A, the push of B's items on B.
  await a.$eval("#gift-to", (el, v) => ((el as HTMLInputElement).value = v), idB);
  await a.select("#gift-item", "100");
  await a.$eval("#gift-num", (el) => ((el as HTMLInputElement).value = "5"));
  await a.click("#gift");
  const answer = await a
    .waitForFunction(() => document.getElementById("gift-result")?.dataset.code, { timeout: 30_000 })
    .then((h) => h.jsonValue());
  assert.equal(answer, "RC_OK", await logText(a));
  await b
    .waitForSelector('#log li[data-kind="push"][data-api="msg.GetItems.Res"]', { timeout: 30_000 })
    .catch(async (e) => assert.fail(`no push on B: ${e}\nlog:\n${await logText(b)}`));

  // An operator mail to B: its push on B's page, then B claims it.
  const sent = JSON.parse(dev.admin("mail", "--to", idB, "--title", "Welcome", "--content", "from the test", "--items", "100:7"));
  assert.equal(sent.delivered, 1, JSON.stringify(sent));
  await b
    .waitForSelector('#log li[data-kind="push"][data-api="msg.GetMails.Res"]', { timeout: 30_000 })
    .catch(async (e) => assert.fail(`no mail push on B: ${e}\nlog:\n${await logText(b)}`));
  await b.waitForFunction(() => document.getElementById("mails")?.textContent?.includes("Welcome"), { timeout: 30_000 });
  await b.click('#mails button[data-action="claim"]');
  await b.waitForFunction(() => / RC_OK$/.test(document.getElementById("mail-result")?.textContent ?? ""), { timeout: 30_000 });

    // B's account logs in elsewhere (the SDK over TCP): B's page is kicked.
  const uc = new UcClient(dev.ucUrl);
  const again = await uc.guest(deviceB!);
  assert.equal(again.code, ResCode.RC_OK, again.message);
  assert.equal(String(again.accountId), idB);
  const elsewhere = await connectTcp(again.addr, again.token);
  try {
    await b
      .waitForSelector('#log li[data-kind="kick"]', { timeout: 30_000 })
      .catch(async (e) => assert.fail(`no kick on B: ${e}\nlog:\n${await logText(b)}`));
    assert.match(await logText(b), /kick: RC_LOGIN_KICKED/);
    await b.waitForFunction(() => document.getElementById("status")?.textContent === "logged out", { timeout: 30_000 });
    // A plays on.
    assert.equal(await a.$eval("#status", (el) => el.textContent), "playing");
  } finally {
    elsewhere.close();
  }

  // The kicked page plays on with a username and password instead.
  const name = `web_${Date.now().toString(36)}`;
  await b.$eval("#username", (el, v) => ((el as HTMLInputElement).value = v), name);
  await b.$eval("#password", (el) => ((el as HTMLInputElement).value = "secret-web-1"));
  await b.click("#register");
  await b.waitForFunction(() => document.getElementById("status")?.textContent === "playing", { timeout: 30_000 });
  const idNamed = await b.$eval("#player", (el) => (el as HTMLElement).dataset.id);
  assert.notEqual(idNamed, idB);
  assert.equal((await uc.auth(name, "secret-web-1")).accountId, BigInt(idNamed!));
  assert.deepEqual(problems, []);
});
