"""Adapters: everything that reads or writes files, glTF, OSC and captures.

Each adapter converts between outside formats and the pure core types of :mod:`facs_rig.core`.
"""
