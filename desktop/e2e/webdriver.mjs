// A small W3C WebDriver client for tauri-driver (fetch keeps connections alive; a reset gets a
// retry, as new connections per request were flaky against tauri-driver).

export const ELEMENT = "element-6066-11e4-a52e-4f735466cecc";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function log(message) {
  process.stderr.write(`${message}\n`);
}

/** `--name value` pairs; throws naming the missing ones. */
export function parseArgs(argv, required) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, "")] = argv[i + 1];
  const missing = required.filter((r) => !args[r]);
  if (missing.length) throw new Error(`missing ${missing.map((m) => `--${m}`).join(", ")}`);
  return args;
}

export class Session {
  constructor(driver) {
    this.driver = driver;
    this.id = null;
  }

  async request(method, path, body) {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${this.driver}${path}`, {
          method,
          headers: { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const json = await response.json();
        if (!response.ok) {
          const error = new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json.value)}`);
          error.webdriver = json.value;
          throw error;
        }
        return json.value;
      } catch (e) {
        if (e.webdriver || attempt >= 3) throw e;
        log(`retrying ${method} ${path} after ${e.cause?.code ?? e.message}`);
        await sleep(300);
      }
    }
  }

  /** Launches the app (tauri-driver starts it through WebKitWebDriver). */
  async start(application) {
    const created = await this.request("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application } } },
    });
    this.id = created.sessionId;
  }

  async close() {
    if (this.id) await this.request("DELETE", `/session/${this.id}`);
    this.id = null;
  }

  s(path) {
    return `/session/${this.id}${path}`;
  }

  exec(script, ...args) {
    return this.request("POST", this.s("/execute/sync"), { script, args });
  }

  /** Runs `script` whose last argument is a callback to call with the answer. */
  execAsync(script, ...args) {
    return this.request("POST", this.s("/execute/async"), { script, args });
  }

  async find(css) {
    const found = await this.request("POST", this.s("/elements"), { using: "css selector", value: css });
    // W3C names the key ELEMENT; older WebKitWebDriver builds answer `ELEMENT`.
    return found.map((e) => e[ELEMENT] ?? e.ELEMENT ?? Object.values(e)[0]);
  }

  async click(css) {
    const [el] = await until(`an element ${css}`, async () => {
      const els = await this.find(css);
      return els.length ? els : null;
    });
    await this.request("POST", this.s(`/element/${el}/click`), {});
  }

  async screenshot() {
    return Buffer.from(await this.request("GET", this.s("/screenshot")), "base64");
  }
}

/** Polls `probe` (async, truthy when done) for up to `seconds`; its last answer is in the error. */
export async function until(what, probe, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${seconds} s waiting for ${what} (last: ${JSON.stringify(last)})`);
    }
    await sleep(200);
  }
}
