// Runs one headless browser with the rig page and answers JSON-line commands on stdin.
//
//   ip netns exec NS node driver.mjs --browser chromium|firefox --profile DIR
//
// It bundles page/rig.js (esbuild, in memory), serves it on the namespace's own 127.0.0.1
// (getUserMedia needs a secure context, and http://127.0.0.1 is one), launches the browser
// with puppeteer-core (Chromium over a pipe, Firefox over WebDriver BiDi) and opens the page.
// Then each stdin line {"id": N, "fn": "name", "args": [...]} calls window.rig[name](...args)
// in the page; the answer is one stdout line {"id": N, "ok": true, "value": ...} or
// {"id": N, "ok": false, "error": "..."}. Browser console lines go out as {"console": "..."}.
// The first line is {"ready": {...}}. EOF on stdin closes the browser and exits.
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import puppeteer from 'puppeteer-core';

const here = dirname(fileURLToPath(import.meta.url));
const { values: argv } = parseArgs({
  options: {
    browser: { type: 'string', default: 'chromium' },
    profile: { type: 'string' },
    executable: { type: 'string' },
  },
});
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const EXECUTABLES = { chromium: '/usr/bin/chromium', firefox: '/usr/bin/firefox-esr' };
const CHROMIUM_ARGS = [
  '--no-sandbox', // the rig runs as root
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];
const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Without it Firefox in a namespace with no default route gathers no candidates.
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.default_address_only': false,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'network.dns.disableIPv6': true,
  'browser.shell.checkDefaultBrowser': false,
  'app.update.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
};

async function bundle() {
  const result = await esbuild.build({
    entryPoints: [join(here, 'page', 'rig.js')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120', 'firefox115'],
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

function serve(script) {
  const html =
    '<!doctype html><meta charset="utf-8"><title>callctl webrtc rig</title>' +
    '<script src="/rig.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/rig.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(script);
    } else if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function launch(kind, profile) {
  const executablePath = argv.executable || EXECUTABLES[kind];
  if (kind === 'chromium') {
    return puppeteer.launch({
      browser: 'chrome',
      executablePath,
      headless: true,
      pipe: true,
      userDataDir: profile,
      args: CHROMIUM_ARGS,
    });
  }
  if (kind === 'firefox') {
    return puppeteer.launch({
      browser: 'firefox',
      executablePath,
      headless: true,
      userDataDir: profile,
      extraPrefsFirefox: FIREFOX_PREFS,
    });
  }
  throw new Error(`unknown browser ${kind}`);
}

async function main() {
  const script = await bundle();
  const server = await serve(script);
  const browser = await launch(argv.browser, argv.profile);
  const page = await browser.newPage();
  page.on('console', (msg) => send({ console: `${msg.type()}: ${msg.text()}` }));
  page.on('pageerror', (err) => send({ console: `pageerror: ${err.message}` }));
  const url = `http://127.0.0.1:${server.address().port}/`;
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.rig !== undefined, { timeout: 10000 });
  send({ ready: { browser: await browser.version(), page: url } });

  let closing = null;
  const close = () => {
    closing ??= (async () => {
      await browser.close().catch(() => undefined);
      server.close();
    })();
    return closing;
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let id = null;
    try {
      const cmd = JSON.parse(line);
      id = cmd.id;
      const value = await page.evaluate(
        (fn, args) => window.rig[fn](...args),
        cmd.fn,
        cmd.args || [],
      );
      send({ id, ok: true, value: value === undefined ? null : value });
    } catch (err) {
      send({ id, ok: false, error: String(err && err.message ? err.message : err) });
    }
  }
  await close();
}

main().then(
  () => process.exit(0),
  (err) => {
    send({ fatal: String(err && err.stack ? err.stack : err) });
    process.exit(1);
  },
);
