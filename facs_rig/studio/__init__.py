"""``facs-rig studio``: a live browser workspace over the library (an adapter, like the CLI).

:func:`open_session` builds a :class:`~facs_rig.studio.session.StudioSession` from what the
command line names (a notes file, another timeline file, a code, or nothing); the
:class:`~facs_rig.studio.server.StudioServer` serves it to pages. Why the page is built on
three.js from the ``jupyter-threejs-sage`` wheel, and the message protocol: ``docs/studio.md``.
"""

from __future__ import annotations

from pathlib import Path

from facs_rig.studio.session import StudioSession

__all__ = ["open_session", "studio_notes", "check_notes_writable", "StudioSession", "DEFAULT_NOTES"]

#: The notes file edited when the command names none (in the working folder).
DEFAULT_NOTES = "studio.notes"


def studio_notes(argument: str | None, vocabulary) -> tuple[Path, str]:
    """The notes file a studio edits and the text it starts from, for ``facs-rig studio
    [TIMELINE|CODE]`` (the rules of :func:`open_session`). Quick (no rig is read), so the
    command checks its argument with it before it opens the port.

    Raises
    ------
    FacsRigError
        For an unreadable timeline, a code that does not parse, a notes file the converted
        text would replace on Save, or a notes file that cannot be saved
        (:func:`check_notes_writable`).
    """
    from facs_rig.errors import OutputError
    from facs_rig.io.au_notes import format_au_notes
    from facs_rig.io.timeline_files import load_timeline_argument, read_text_file

    notes_path = Path(DEFAULT_NOTES)
    text = ""
    if argument is None:
        if notes_path.is_file():
            text = read_text_file(notes_path)
    elif Path(argument).suffix.lower() in (".notes", ".txt") and not Path(argument).is_dir():
        notes_path = Path(argument)
        text = read_text_file(notes_path) if notes_path.exists() else ""
    else:
        timeline = load_timeline_argument(argument, vocabulary)
        text = format_au_notes(timeline, vocabulary, timecode=True)
        if Path(argument).is_file():
            notes_path = Path(argument).with_suffix(".notes")
        if notes_path.exists():
            # The page would start from the converted text and Save would replace the file:
            # a director's notes from an earlier session, lost to one click.
            raise OutputError(f"{notes_path} exists and would be replaced on Save by notes made "
                              f"from {argument!r}: edit it with 'facs-rig studio {notes_path}', "
                              f"or move it away first")
    check_notes_writable(notes_path)
    return notes_path, text


def check_notes_writable(notes_path: Path) -> Path:
    """Refuse a notes file that Save (and the unsaved-edits copy kept at the end) cannot write.

    Checked before the server starts: a studio on a notes path in a missing or read-only folder
    started, took the director's typing, and then lost all of it (Save, every export and the
    ``NAME.unsaved.notes`` rescue failed the same way).

    Raises
    ------
    OutputError
        The folder is missing, is a file, or cannot be written; or the notes path is a folder.
    """
    import os

    from facs_rig.errors import OutputError

    folder = notes_path.parent if str(notes_path.parent) else Path(".")
    why = None
    if not folder.exists():
        why = f"folder {folder} does not exist"
    elif not folder.is_dir():
        why = f"{folder} is a file, not a folder"
    elif notes_path.is_dir():
        why = "it is a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        why = f"folder {folder} is not writable"
    if why is not None:
        raise OutputError(f"{notes_path}: cannot save the notes there, {why} (the studio saves "
                          f"the notes, its exports and unsaved edits in the notes file's folder)")
    return notes_path


def open_session(argument: str | None = None, *, mesh: str | None = None,
                 rig: str | None = None, compare: str | None = None,
                 compare_rig: str | None = None) -> StudioSession:
    """A studio session for ``facs-rig studio [TIMELINE|CODE] [--mesh] [--rig]``.

    * a ``.notes``/``.txt`` file: edited in place (it need not exist yet);
    * another timeline file (``.json``, ``.eaf``, ``.csv``): converted to notes text, saved
      beside it as ``NAME.notes`` (the original is never written);
    * a FACS code or expression name: one held beat, saved as ``studio.notes``;
    * in those two cases a notes file that already exists is refused (Save would replace it);
    * nothing: ``studio.notes`` in the working folder (read when it exists, else empty).

    ``compare`` (a glTF file, or ``default`` for the bundled head) with ``compare_rig`` (its
    profile; default as for ``rig``) adds a second rig beside the first.

    Raises
    ------
    FacsRigError
        For an unreadable timeline, a code that does not parse, or a rig that cannot be loaded.
    """
    from facs_rig.io.default_head import default_head_path
    from facs_rig.render.preview import preview_setup
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    notes_path, text = studio_notes(argument, vocabulary)
    setup = preview_setup(mesh, rig, size=512, supersample=2)
    second = None
    if compare is not None or compare_rig is not None:
        compare_mesh = mesh if compare is None else None if compare == "default" else compare
        second = preview_setup(compare_mesh, compare_rig, size=256)
    return StudioSession(notes_path, text, vocabulary, setup,
                         Path(mesh) if mesh is not None else default_head_path(), second)
