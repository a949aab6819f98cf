// screenshot.cjs: Mailpit's web UI on one message, its Headers tab open,
// in headless Chromium driven by playwright-core (the copy Mailpit's own
// npm install brought; nothing downloads a browser). Used by lab-test.sh:
//   node screenshot.cjs PLAYWRIGHT_CORE_DIR CHROMIUM URL SUBJECT OUT.png
// Exits non-zero when the page does not show SUBJECT or the headers.
"use strict";
const [pw, executablePath, url, subject, out] = process.argv.slice(2);
const { chromium } = require(pw);

(async () => {
	const browser = await chromium.launch({
		executablePath,
		args: [
			"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
		],
	});
	try {
		const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
		await page.goto(url, { timeout: 30000 });
		await page.locator("#nav-headers-tab").waitFor({ state: "visible", timeout: 30000 });
		if (!(await page.content()).includes(subject)) {
			throw new Error(`the page does not show "${subject}"`);
		}
		await page.click("#nav-headers-tab");
		await page.locator("#nav-headers >> text=X-HELO-Check >> visible=true").first().waitFor({ timeout: 30000 });
		// Bootstrap fades the tab pane in: wait for it to be shown, then
		// for the transition (0.15 s) to end.
		await page.locator("#nav-headers.show").waitFor({ timeout: 30000 });
		await page.waitForTimeout(500);
		await page.screenshot({ path: out, fullPage: true });
	} finally {
		await browser.close();
	}
})().catch((err) => {
	console.error(String(err));
	process.exit(1);
});
