// Run the Khronos glTF-Validator (npm package "gltf-validator") on one file and print its report
// as JSON on stdout. Usage: node gltf_validator.mjs FILE [MODULE_DIR]
// External resources (.bin, images) are read from the file's folder.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [file, moduleDir] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(moduleDir || process.cwd()), "noop.js"));
const validator = require("gltf-validator");
const bytes = new Uint8Array(fs.readFileSync(file));
const folder = path.dirname(file);
validator.validateBytes(bytes, {
    uri: path.basename(file),
    format: file.toLowerCase().endsWith(".glb") ? "glb" : "gltf",
    maxIssues: 0,
    externalResourceFunction: (uri) => new Promise((resolve, reject) => {
        fs.readFile(path.join(folder, decodeURIComponent(uri)), (error, data) =>
            error ? reject(error.toString()) : resolve(new Uint8Array(data)));
    }),
}).then((report) => {
    process.stdout.write(JSON.stringify(report));
}).catch((error) => {
    process.stderr.write(String(error) + "\n");
    process.exit(2);
});
