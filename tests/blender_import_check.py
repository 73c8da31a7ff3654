"""Run under a Python that has Blender's ``bpy`` (not the test environment's): import a glTF file
with Blender's own importer and print, as one JSON line, what a Blender user gets.

Usage: ``python blender_import_check.py FILE.glb TIME_SECONDS``. For every mesh object with
shape keys: the active action of its shape keys and its slot, the action's shape-key F-curves,
the NLA tracks the importer made for the other animations, and every key block's value at
``TIME_SECONDS`` (the scene evaluated at that frame, as the viewport shows it). For every object
with an object-level action (node animation: gaze turning the eyeballs): the action, its F-curves
and the object's quaternion rotation (w, x, y, z, Blender's Z-up axes) at that frame.
"""

import json
import sys

import bpy
from bpy_extras import anim_utils

path, seconds = sys.argv[1], float(sys.argv[2])
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=path)
scene = bpy.context.scene
fps = scene.render.fps / scene.render.fps_base  # the importer places keys at seconds * fps
frame = seconds * fps
scene.frame_set(int(frame), subframe=frame - int(frame))
report = {"blender": bpy.app.version_string, "fps": fps, "frame": frame, "objects": {}}
for obj in bpy.data.objects:
    if obj.type != "MESH" or obj.data.shape_keys is None:
        continue
    keys = obj.data.shape_keys
    animation = keys.animation_data
    action = animation.action if animation else None
    curves = []
    if action is not None:
        # Blender 4.4+ layered actions: F-curves live in the channel bag of the object's slot.
        bag = anim_utils.action_get_channelbag_for_slot(action, animation.action_slot)
        curves = [curve.data_path for curve in bag.fcurves] if bag else []
    report["objects"][obj.name] = {
        "active_action": action.name if action else None,
        "slot": animation.action_slot.identifier if action else None,
        "fcurves": curves,
        "nla_tracks": [track.name for track in animation.nla_tracks] if animation else [],
        "values": {block.name: block.value for block in keys.key_blocks[1:]},
    }
report["transforms"] = {}
for obj in bpy.data.objects:
    animation = obj.animation_data
    if animation is None or animation.action is None:
        continue
    bag = anim_utils.action_get_channelbag_for_slot(animation.action, animation.action_slot)
    report["transforms"][obj.name] = {
        "active_action": animation.action.name,
        "fcurves": sorted({curve.data_path for curve in bag.fcurves}) if bag else [],
        "rotation_mode": obj.rotation_mode,
        "rotation_quaternion": list(obj.rotation_quaternion),
    }
print("REPORT " + json.dumps(report))
