// A person's first visit, in Debian's headless Chromium: register, see who
// is signed in, post, find the post under their username, react to it and
// take the reaction back, sign out, and fail to post with the page they
// still have open. Then the pages at a phone's width. Every step asserts
// what the person would see; screenshots go to the output directory for a
// human to look at.
//
//   node walkthrough.js http://127.0.0.1:PORT OUT_DIR
"use strict";
const { chromium } = require("playwright-core");
const assert = require("node:assert/strict");
const path = require("node:path");

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: node walkthrough.js BASE_URL OUT_DIR");
  process.exit(2);
}

function step(text) {
  console.log(`- ${text}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
}

/// Buttons and inputs a finger can hit: WCAG 2.2's 24 px target size.
async function assertTargets(page) {
  const small = await page.$$eval("button, input:not([type=hidden])", (els) =>
    els.filter((e) => e.getBoundingClientRect().height < 24).map((e) => e.outerHTML),
  );
  assert.deepEqual(small, [], "targets under 24 px");
}

/// Nothing wider than the screen: no sideways scrolling.
async function assertFits(page, width) {
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scroll <= width, `page is ${scroll} px wide on a ${width} px screen`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const context = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  const page = await context.newPage();
  const name = `walker${Date.now() % 100000}`;

  step("the home page offers to sign in");
  await page.goto(`${base}/`);
  await page.getByRole("link", { name: "Sign in or register" }).first().click();
  assert.equal(new URL(page.url()).pathname, "/signin");
  await assertTargets(page);
  await shot(page, "1-signin");

  step(`register as ${name}: the page says who is signed in`);
  const register = page.locator('form[action="/register"]');
  await register.getByLabel("Username").fill(name);
  await register.getByLabel("Password").fill("a long enough password");
  await register.getByRole("button", { name: "Register" }).click();
  assert.equal(new URL(page.url()).pathname, "/");
  await page.getByText(`Signed in as @${name}`).waitFor();
  await shot(page, "2-signed-in");

  step("reloading that page sends nothing again");
  const reload = await page.reload();
  assert.equal(reload.status(), 200);
  assert.equal(reload.request().method(), "GET");

  step("post, without typing any id: the post shows the username and a time");
  await page.getByLabel("Caption").fill("Sunset at the beach with @friend #Walkthrough");
  await page.getByRole("button", { name: "Post" }).click();
  assert.match(new URL(page.url()).pathname, /^\/posts\/\d+$/);
  await page.getByRole("link", { name: `@${name}` }).last().waitFor();
  const byline = await page.locator("p.muted").first().innerText();
  assert.match(byline, new RegExp(`^By @${name}, \\d+ \\w{3} \\d{4}, \\d\\d:\\d\\d UTC$`));
  assert.equal(await page.getByRole("link", { name: "@friend" }).getAttribute("href"), "/users/friend");
  await shot(page, "3-post");

  step("react with a thumbs up: the button is pressed and counted; pressed again, taken back");
  const postUrl = page.url();
  await page.getByRole("button", { name: /^👍/ }).click();
  assert.equal(page.url(), postUrl, "back on the post after the redirect");
  const thumbs = page.getByRole("button", { name: /^👍/ });
  assert.equal(await thumbs.getAttribute("aria-pressed"), "true");
  // The reaction consumer counts asynchronously: reload until it has.
  for (let i = 0; i < 50 && (await thumbs.innerText()) !== "👍 1"; i++) {
    await page.waitForTimeout(100);
    await page.reload();
  }
  assert.equal(await thumbs.innerText(), "👍 1");
  await assertTargets(page);
  await shot(page, "3-post-reacted");
  await thumbs.click();
  assert.equal(await page.getByRole("button", { name: /^👍/ }).getAttribute("aria-pressed"), "false");

  step("a second tab keeps the post form open");
  const other = await context.newPage();
  await other.goto(`${base}/`);
  await other.getByLabel("Caption").fill("posted after signing out #Walkthrough");

  step("sign out");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("link", { name: "Sign in or register" }).first().waitFor();
  assert.equal(await page.getByText("Signed in as").count(), 0);

  step("posting from the stale form fails: signed out");
  const [refused] = await Promise.all([
    other.waitForNavigation(),
    other.getByRole("button", { name: "Post" }).click(),
  ]);
  assert.equal(refused.status(), 401);
  assert.equal(await other.title(), "Sign in first – Hashtags");
  await shot(other, "4-post-refused");

  step("sign in again");
  await page.goto(`${base}/signin`);
  const signIn = page.locator('form[action="/session"]');
  await signIn.getByLabel("Username").fill(name.toUpperCase());
  await signIn.getByLabel("Password").fill("a long enough password");
  await signIn.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as @${name}`).waitFor();

  step("a phone shows every page within its width");
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const small = await phone.newPage();
  const longTag = "Averyveryverylonghashtagthatkeepsgoingandgoingwithoutanyspacesatall".repeat(2);
  for (const [label, url] of [
    ["home", "/"],
    ["signin", "/signin"],
    ["tag", `/tags/walkthrough`],
    ["long-tag", `/tags/${longTag}`],
    ["user", `/users/${name}`],
  ]) {
    const res = await small.goto(`${base}${url}`);
    assert.ok(res.status() < 500, `${url}: ${res.status()}`);
    await assertFits(small, 390);
    await assertTargets(small);
    await shot(small, `5-phone-${label}`);
  }
  await browser.close();
  console.log(`walk-through passed; screenshots in ${out}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
