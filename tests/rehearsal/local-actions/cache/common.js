// Shared by restore.js and save.js: inputs as the runner passes them, and the store folder.
const fs = require("fs");
const path = require("path");

function input(name, required) {
  const value = (process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] || "").trim();
  if (required && !value) {
    throw new Error(`Input required and not supplied: ${name}`);
  }
  return value;
}

function lines(value) {
  return value.split("\n").map((s) => s.trim()).filter(Boolean);
}

function store() {
  const dir = process.env.EDGETRAIN_REHEARSAL_CACHE;
  if (!dir) {
    throw new Error("EDGETRAIN_REHEARSAL_CACHE is not set: the rehearsal names the cache folder");
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// A key becomes one file name; the real service limits keys to 512 characters and refuses commas.
function tarball(key) {
  if (key.length > 512 || key.includes(",")) {
    throw new Error(`Key Validation Error: ${key} cannot contain commas or exceed 512 characters`);
  }
  return path.join(store(), `${Buffer.from(key).toString("hex")}.tar`);
}

function setOutput(name, value) {
  fs.appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`);
}

module.exports = { input, lines, store, tarball, setOutput };
