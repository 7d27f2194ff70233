// Launching Debian's chromium for the dashboard's test and benchmark. Never a downloaded
// browser: playwright-core drives /usr/bin/chromium. Without the background-networking flags
// Chromium keeps calling out to a network that is closed here.
export const CHROMIUM = '/usr/bin/chromium';
export const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A browser context on a fresh profile directory (playwright passes it as --user-data-dir). */
export async function launch(chromium, profileDir) {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
  });
}

/** Polls `condition` until it is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(condition, what, timeoutMs = 30e3) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
