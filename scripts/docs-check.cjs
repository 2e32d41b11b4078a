// `make docs-check`: opens the docs page of a running server in headless Chromium (through
// puppeteer-core), checks that every operation of the contract is listed and that the
// "Authorize" dialog offers the client-credentials flow with this server's token URL,
// and keeps a screenshot. Arguments: the server's base URL, the screenshot's path.
const puppeteer = require("puppeteer-core");

async function main() {
  const [base, screenshot] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1600 });
    await page.goto(`${base}/v2/billing/docs/`, { waitUntil: "networkidle0" });
    await page.waitForSelector(".opblock", { timeout: 15000 });
    const operations = await page.$$eval(".opblock", (blocks) =>
      blocks.map((block) => [
        block.querySelector(".opblock-summary-method")?.textContent,
        block.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
      ].join(" ")));
    await page.screenshot({ path: screenshot, fullPage: true });
    if (operations.length !== 8) {
      throw new Error(`8 operations listed, not ${operations.length}: ${operations}`);
    }
    await page.click(".btn.authorize");
    await page.waitForSelector(".modal-ux", { timeout: 5000 });
    const dialog = await page.$eval(".modal-ux", (modal) => modal.textContent);
    // Swagger 2.0 calls the client-credentials flow `application`; OpenAPI 3, `clientCredentials`.
    const flow = /Flow:\s*(application|clientCredentials)/.test(dialog);
    const secretAsked = dialog.includes("client_id:") && dialog.includes("client_secret:");
    if (!flow || !secretAsked || !dialog.includes(`${base}/oauth/client_credential/accesstoken`)) {
      throw new Error(`the Authorize dialog offers no client-credentials flow: ${dialog}`);
    }
    console.log(`docs page: ${operations.length} operations listed (${operations.join(", ")}); ` +
      `the Authorize dialog offers the client-credentials flow; screenshot ${screenshot}`);
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
