// Save (post step): nothing on an exact hit; otherwise the paths that exist, as one tarball per key.
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const { input, lines, tarball } = require("./common.js");

function main() {
  const key = input("key", true);
  const target = tarball(key);
  if (fs.existsSync(target)) {
    console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
    return;
  }
  const workspace = process.env.GITHUB_WORKSPACE;
  const paths = lines(input("path", true)).filter((p) => fs.existsSync(path.resolve(workspace, p)));
  if (paths.length === 0) {
    console.log("::warning::Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.");
    return;
  }
  execFileSync("tar", ["-cf", `${target}.part`, "-C", workspace, "--", ...paths], { stdio: "inherit" });
  fs.renameSync(`${target}.part`, target);
  console.log(`Cache saved with key: ${key}`);
}

try {
  main();
} catch (err) {
  console.log(`::warning::Failed to save: ${err.message}`);
}
