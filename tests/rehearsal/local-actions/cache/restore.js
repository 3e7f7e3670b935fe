// Restore: the exact key, else the newest tarball whose key starts with a restore key (as actions/cache).
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const { input, lines, store, tarball, setOutput } = require("./common.js");

function main() {
  input("path", true);
  const key = input("key", true);
  setOutput("cache-primary-key", key);
  let matched = fs.existsSync(tarball(key)) ? key : "";
  if (!matched) {
    const keys = fs
      .readdirSync(store())
      .filter((f) => f.endsWith(".tar"))
      .map((f) => ({ key: Buffer.from(f.slice(0, -4), "hex").toString(), file: path.join(store(), f) }))
      .sort((a, b) => fs.statSync(b.file).mtimeMs - fs.statSync(a.file).mtimeMs);
    for (const prefix of lines(input("restore-keys"))) {
      const hit = keys.find((k) => k.key.startsWith(prefix));
      if (hit) {
        matched = hit.key;
        break;
      }
    }
  }
  setOutput("cache-hit", String(matched === key));
  if (!matched) {
    if (input("fail-on-cache-miss") === "true") {
      throw new Error(`Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: ${key}`);
    }
    console.log(`Cache not found for input keys: ${key}`);
    return;
  }
  setOutput("cache-matched-key", matched);
  if (input("lookup-only") !== "true") {
    execFileSync("tar", ["-xf", tarball(matched), "-C", process.env.GITHUB_WORKSPACE], { stdio: "inherit" });
  }
  console.log(`Cache restored from key: ${matched}`);
}

try {
  main();
} catch (err) {
  console.log(`::error::${err.message}`);
  process.exit(1);
}
