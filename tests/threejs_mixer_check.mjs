// Play a glTF file's first animation in three.js, as a web page would, and print what it shows.
// Usage: node threejs_mixer_check.mjs FILE.glb SECONDS MODULE_DIR
// Loads the file with three's GLTFLoader.parse (the documented loader; no browser needed for a
// GLB without textures), plays gltf.animations[0] (the clip viewers and examples pick) in an
// AnimationMixer, advances it to SECONDS and prints one JSON line: the clip names and, per mesh
// with morph targets, every influence by target name (morphTargetDictionary), and per named
// object its local quaternion (x, y, z, w) and position (the node rotations a clip plays: gaze).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [file, seconds, moduleDir] = process.argv.slice(2);
const three = path.join(path.resolve(moduleDir), "node_modules", "three");
const THREE = await import(pathToFileURL(path.join(three, "build", "three.module.js")).href);
const { GLTFLoader } = await import(
    pathToFileURL(path.join(three, "examples", "jsm", "loaders", "GLTFLoader.js")).href);

const data = fs.readFileSync(file);
const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
new GLTFLoader().parse(buffer, path.dirname(file) + "/", (gltf) => {
    const clip = gltf.animations[0];
    const mixer = new THREE.AnimationMixer(gltf.scene);
    mixer.clipAction(clip).play();
    mixer.update(Number(seconds));
    const meshes = {};
    const nodes = {};
    gltf.scene.traverse((object) => {
        if (object.name) {
            nodes[object.name] = { quaternion: object.quaternion.toArray(),
                                   position: object.position.toArray() };
        }
        if (object.isMesh && object.morphTargetDictionary) {
            const influences = {};
            for (const [name, index] of Object.entries(object.morphTargetDictionary)) {
                influences[name] = object.morphTargetInfluences[index];
            }
            meshes[object.name] = influences;
        }
    });
    process.stdout.write(JSON.stringify({
        three: THREE.REVISION, clips: gltf.animations.map((c) => c.name),
        duration: clip.duration, meshes, nodes }) + "\n");
}, (error) => {
    process.stderr.write(String(error && error.stack || error) + "\n");
    process.exit(2);
});
