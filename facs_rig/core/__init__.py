"""The pure core of facs-rig: numpy and the standard library only.

Nothing under ``facs_rig.core`` opens files, touches sockets, reads clocks or prints. It holds the
FACS vocabulary and code notation, AU timelines and their sampling, rig profiles and mixing, and
mesh deformation. Adapters in :mod:`facs_rig.io` turn files, glTF and OSC into these objects and
back; :mod:`facs_rig.cli` only parses arguments and calls the library.
"""
