"""The studio's state: one notes file, one rig, the current pose; every change through the library.

A :class:`StudioSession` is what the web server adapts: it holds the AU notes text being edited,
the last timeline that parsed, its sampled AU curves and mixed target weights, and the pose set
by the AU sliders. Every operation is a call into the library the CLI uses:

* notes are parsed by :func:`facs_rig.io.au_notes.parse_au_notes` (the same error words as
  ``facs-rig timeline show``, with the line and column split out for the editor);
* curves come from :func:`facs_rig.core.timeline.sample`, weights from
  :func:`facs_rig.core.mixing.mix` (a timeline) or :func:`~facs_rig.core.mixing.mix_frame`
  (a pose), and explanations from :func:`~facs_rig.core.mixing.explain`;
* files are written by :func:`facs_rig.io.timeline_files.write_timeline`,
  :func:`facs_rig.io.gltf.pipeline.bake_timeline` and the preview renderer's encoders.

Nothing here touches a socket or prints. Outputs are confined to the notes file's folder:
:meth:`StudioSession.output_path` accepts a bare file name with a known extension and nothing
else.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facs_rig.core.channels import Channel, parse_channel
from facs_rig.core.mixing import explain, mix_array, mix_frame
from facs_rig.core.notation import format_code
from facs_rig.core.timecode import format_timecode
from facs_rig.core.timeline import Timeline, check_channel, frame_count, sample, without_words
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import (
    FacsRigError,
    FacsRuleError,
    OutputError,
    TimelineFormatError,
    UnsupportedFormatError,
)
from facs_rig.io.au_notes import beat_start, notes_origin, written_intensity

__all__ = ["StudioSession", "NotesStatus", "OutputExistsError", "EXPORT_FORMATS", "MAX_FRAMES"]

#: Output kinds the page may ask for, by extension.
EXPORT_FORMATS = (".notes", ".json", ".eaf", ".glb", ".png", ".gif", ".mp4")
#: Frames sent to the page for playback (one hour at 30 fps): longer notes are refused with a
#: message rather than eating the server's and the page's memory.
MAX_FRAMES = 108_000
_WHERE = re.compile(r", line (?P<line>\d+)(?:, column (?P<column>\d+))?: ")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,120}$")


def _same_motion(new: Timeline, old: Timeline) -> bool:
    """Whether two timelines move the face alike: the same events but for the director's words
    (a keystroke in a comment changes those only, and must not sample an hour of timeline)."""
    return (new.fps == old.fps and new.duration == old.duration and new.marks == old.marks
            and len(new.events) == len(old.events)
            and all(a is b or without_words(a) == without_words(b)
                    for a, b in zip(new.events, old.events)))


class OutputExistsError(OutputError):
    """An export's name is a file already in the notes folder, and the export did not say to
    overwrite it: nothing was written. ``free`` is a name no file has (``STEM-2.EXT``)."""

    def __init__(self, name: str, free: str):
        super().__init__(f"{name}: exists in the notes folder; not replaced (overwrite it, or "
                         f"write {free})")
        self.name, self.free = name, free


def _remixed(old_values: np.ndarray | None, old_weights: np.ndarray, values: np.ndarray,
             profile) -> np.ndarray:
    """``mix_array(values, profile.channels, profile)``, mixing only the frames whose AU values
    differ from ``old_values`` (mixed into ``old_weights``): mixing is frame by frame, so the
    other frames' weights are those already made (an edit to one beat of an hour-long timeline
    mixes that beat's frames, not 86,400).

    Parameters
    ----------
    old_values : (n_old, n_channels) float32 or None
        The values ``old_weights`` were mixed from; None mixes every frame.
    old_weights : (n_old, n_targets) float32
    values : (n_frames, n_channels) float32
        On ``profile.channels``.

    Returns
    -------
    weights : (n_frames, n_targets) float32
        A new array (``old_weights`` is left as it is: the server compares the two).
    """
    if (old_values is None or old_values.shape[1] != values.shape[1]
            or old_weights.shape[0] != old_values.shape[0]):
        return mix_array(values, profile.channels, profile)
    common = min(old_values.shape[0], values.shape[0])
    differ = np.flatnonzero(np.any(old_values[:common] != values[:common], axis=1))
    start = int(differ[0]) if differ.size else common
    stop = int(differ[-1]) + 1 if differ.size else common
    if values.shape[0] > common:  # frames past the old end are all mixed
        start, stop = min(start, common), values.shape[0]
    weights = np.empty((values.shape[0], old_weights.shape[1]), np.float32)
    weights[:common] = old_weights[:common]
    if stop > start:
        weights[start:stop] = mix_array(values[start:stop], profile.channels, profile)
    return weights


@dataclass(frozen=True)
class NotesStatus:
    """The outcome of parsing the notes text.

    Attributes
    ----------
    error : str or None
        The message exactly as ``facs-rig`` prints it after ``facs-rig: error:``.
    line, column : int
        Where the error is (1-based; 0 when the message names no line or column).
    warnings : tuple of str
        Of notes that parse: what they keep but may not mean (a ``duration`` that cuts a beat
        short), each exactly as ``facs-rig preview`` prints it after ``facs-rig: note:``.
    """

    error: str | None = None
    line: int = 0
    column: int = 0
    warnings: tuple[str, ...] = ()


def _error_position(message: str) -> tuple[int, int]:
    match = _WHERE.search(message)
    if match is None:
        return 0, 0
    return int(match["line"]), int(match["column"] or 0)


class StudioSession:
    """State of one studio: the notes being edited, the rig, the pose (thread-safe).

    Parameters
    ----------
    notes_path : Path
        The AU notes file edited and saved; its folder is the only place outputs go.
    notes_text : str
        The text to start from (the file's, or one made from a code or another format).
    vocabulary : Vocabulary
    setup : facs_rig.render.preview.PreviewSetup
        The rig (merged meshes, world space), its profile driver and a software renderer.
    mesh_path : Path
        The glTF file of the rig (baked copies are made from it).
    compare : facs_rig.render.preview.PreviewSetup or None
        A second rig (or the same mesh through another profile) shown beside the first, driven
        by the same AU curves and pose through its own profile.
    """

    def __init__(self, notes_path: Path, notes_text: str, vocabulary: Vocabulary, setup,
                 mesh_path: Path, compare=None):
        self.notes_path = Path(notes_path).absolute()
        self.folder = self.notes_path.parent
        self.vocabulary = vocabulary
        self.setup = setup
        self.profile = setup.driver.profile
        self.mesh_path = Path(mesh_path)
        self._lock = threading.RLock()
        # Set when the server stops: a GIF/MP4 export still rendering stops at its next frame.
        self._abandon_clips = threading.Event()
        self.version = 0
        self.text = ""
        self.status = NotesStatus()
        self.timeline = Timeline(fps=30.0)
        self.times = np.zeros(1)
        self.curves = np.zeros((1, 0), np.float32)
        self.curve_channels: tuple[Channel, ...] = ()
        self.weights = np.zeros((1, len(self.profile.targets)), np.float32)
        self.pose_values: dict[Channel, float] = {}
        self.pose_weights = np.zeros(len(self.profile.targets), np.float32)
        self.compare = compare
        n_compare = len(compare.driver.profile.targets) if compare is not None else 0
        self.compare_weights = np.zeros((1, n_compare), np.float32)
        self.compare_pose_weights = np.zeros(n_compare, np.float32)
        # The text the notes file is known to hold (read from it or saved to it): edits since
        # are unsaved, and a change made to the file on disk must not replace them. None: the
        # edits were built on a text older than the file's, not kept here (set_notes).
        self.saved_text: str | None = notes_text
        # How many times the notes took the file's text (the file watch's reload, Reload from
        # disk): the base a page's edit was built on (see set_notes).
        self.disk_version = 0
        # Whether the file changed on disk under unsaved edits (another editor wrote it), and the
        # text it then held (None: not UTF-8). Part of the state every page is sent, opened
        # before or after; Save refuses to write over such a change unless asked to overwrite.
        self._conflict = False
        self._disk_text: str | None = None
        # The timeline's curves and weights change together, and only when they differ: the
        # server sends the page the frames that changed since the version it has.
        self.timeline_version = 0
        self._mixed_values: np.ndarray | None = None  # the AU values the weights were mixed from
        self._compare_values: np.ndarray | None = None
        self.set_notes(notes_text)

    # ------------------------------------------------------------------ notes and timeline

    def _source_name(self) -> str:
        """The file name as the CLI names it in messages (relative to the working folder)."""
        try:
            return str(self.notes_path.relative_to(Path.cwd()))
        except (ValueError, OSError):  # OSError: the working folder was removed
            return str(self.notes_path)

    def set_notes(self, text: str, base: int | None = None) -> NotesStatus:
        """Take new notes text; on success the timeline, curves and weights follow it.

        A text that does not parse keeps the last good timeline (the face does not jump back to
        neutral while the director types) and reports the error at its line and column.

        ``base`` is the :attr:`disk_version` the text was built on (a page's). When the notes
        took the file's text since (a keystroke sent before the reloaded text reached the
        page), a text other than the file's is edits over a changed file, as when the file
        changes under unsaved edits: :attr:`conflict` is set, and Save refuses to write over
        the file's text (it was lost before: the file held the text last read, so Save wrote).
        None (the library's own calls) checks nothing.
        """
        from facs_rig.io.au_notes import parse_au_notes

        with self._lock:
            if (base is not None and base < self.disk_version and text != self.saved_text
                    and not self._conflict):
                # The edits were built on a text older than the file's, which this session no
                # longer has: any text on disk but the edits' own is a change they have not seen.
                self._conflict, self._disk_text, self.saved_text = True, self.saved_text, None
            self.text = text
            self.version += 1
            if self._conflict and text == self._disk_text:  # typed what the file holds: no conflict
                self.saved_text, self._conflict = text, False
            warned: list[str] = []  # shown on the page (they went to the server's stderr)
            try:
                timeline = parse_au_notes(text, self.vocabulary, source=self._source_name(),
                                          warnings_out=warned)
                self._set_timeline(timeline)
            except FacsRigError as exc:
                message = " ".join(str(exc).split())
                line, column = _error_position(message)
                self.status = NotesStatus(message, line, column)
            else:
                self.status = NotesStatus(warnings=tuple(warned))
            return self.status

    def _set_timeline(self, timeline: Timeline) -> None:
        """Follow ``timeline``: its curves and weights, mixed again only on the frames whose AU
        values changed (a keystroke on an hour-long timeline mixed all 86,400 frames).

        ``timeline_version`` goes up only when the curves or weights change: an edit that
        leaves them as they were (a comment, spaces, another spelling of the same beat) keeps
        the arrays, and the page is sent no weights (:mod:`facs_rig.studio.server`)."""
        if _same_motion(timeline, self.timeline) and self._mixed_values is not None:
            self.timeline = timeline  # its words (comments, names) and title are the new text's
            return
        n_frames = frame_count(timeline.duration, timeline.fps)  # as sample() will make them
        if n_frames > MAX_FRAMES:
            raise TimelineFormatError(
                f"{self._source_name()}: {timeline.duration:g} s at {timeline.fps:g} fps is "
                f"{n_frames} frames; the studio plays at most {MAX_FRAMES}")
        same_rate = timeline.fps == self.timeline.fps
        curves = sample(timeline)
        # Mixed on every channel the profile reads, so the weights are mix()'s exactly.
        values = sample(timeline, channels=self.profile.channels).values
        weights = _remixed(self._mixed_values if same_rate else None, self.weights, values,
                           self.profile)
        compare_values, compare_weights = None, self.compare_weights
        if self.compare is not None:
            other = self.compare.driver.profile
            compare_values = sample(timeline, channels=other.channels).values
            compare_weights = _remixed(self._compare_values if same_rate else None,
                                       self.compare_weights, compare_values, other)
        changed = not (same_rate and curves.channels == self.curve_channels
                       and np.array_equal(curves.values, self.curves)
                       and np.array_equal(weights, self.weights)
                       and np.array_equal(compare_weights, self.compare_weights))
        self.timeline = timeline
        self._mixed_values, self._compare_values = values, compare_values
        if changed:
            self.timeline_version += 1
            self.times = curves.times
            self.curves = curves.values
            self.curve_channels = curves.channels
            self.weights = weights
            self.compare_weights = compare_weights

    def save(self, *, overwrite: bool = False) -> Path:
        """Write the notes text, as typed, atomically to the notes file.

        As an editor does when the file changed since it was read (vim: "The file has been
        changed since reading it!!!"; VS Code: "The content of the file is newer"), Save refuses
        to write over a change made on disk by another editor unless ``overwrite``. The file is
        read again here, so a change the server's file watch has not seen yet is found too.

        Raises
        ------
        OutputError
            The file changed on disk (it holds neither the text last read or saved nor the
            text being saved) and ``overwrite`` is False: nothing is written, and
            :attr:`conflict` is set (every page is shown it).
        """
        from facs_rig.io.atomic import write_text_atomic

        with self._lock:
            if not overwrite and self._changed_on_disk():
                self._conflict = True
                name = self.notes_path.name
                raise OutputError(f"{name} changed on disk since it was read or saved; Save would "
                                  f"write over that change: Overwrite writes your edits over it, "
                                  f"Reload from disk takes the file's text")
            write_text_atomic(self.notes_path, self.text)
            self.saved_text = self.text
            self._conflict, self._disk_text = False, None
            return self.notes_path

    def _changed_on_disk(self) -> bool:
        """Whether the notes file holds a text other than the one last read or saved (and
        other than the text being saved: writing that loses nothing)."""
        try:
            data = self.notes_path.read_bytes()
        except FileNotFoundError:
            return False  # removed: writing it back loses nothing
        except OSError:
            return False  # unreadable: the write reports what is wrong
        try:
            on_disk = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            self._disk_text = None
            return True
        if on_disk in (self.saved_text, self.text):
            return False
        self._disk_text = on_disk
        return True

    @property
    def conflict(self) -> str | None:
        """The warning every page shows while the notes file changed on disk under unsaved
        edits (until Save with ``overwrite``, :meth:`reload_from_disk`, or the file or the text
        agreeing again); None when there is no such change."""
        with self._lock:
            if not self._conflict:
                return None
            return (f"{self.notes_path.name} changed on disk; your unsaved edits are kept here "
                    f"(Overwrite writes them over the file, Reload from disk takes the file's text)")

    def reload_from_disk(self) -> NotesStatus:
        """Take the notes file's text, dropping unsaved edits (the page's "Reload from disk").

        Raises
        ------
        TimelineFormatError
            The file cannot be read or is not UTF-8 (the notes are left as they are).
        """
        from facs_rig.io.timeline_files import read_text_file

        text = read_text_file(self.notes_path)
        with self._lock:
            self.saved_text = text
            self._conflict, self._disk_text = False, None
            self.disk_version += 1
            return self.set_notes(text)

    @property
    def unsaved(self) -> bool:
        """Whether the notes text has edits the notes file does not hold."""
        with self._lock:
            return self.text != self.saved_text

    def keep_unsaved(self) -> Path | None:
        """Write unsaved edits beside the notes file as ``NAME.unsaved.notes`` (atomically; the
        next free ``NAME.unsaved-2.notes``... when an earlier copy differs) and return that path;
        None when there are none. For the end of a session: the page's typing
        must outlive the server even when nobody pressed Save. The notes file is not touched.

        When the notes folder cannot be written any more (removed, made read-only while the
        studio ran), the copy goes to the working folder, else the temporary folder: the
        returned path says where (the start checked the folder, so this is the rare case).

        Raises
        ------
        OutputError
            Only when none of those three folders can be written.
        """
        import tempfile

        with self._lock:
            if self.text == self.saved_text:
                return None
            failures = []
            try:
                working = Path.cwd()
            except OSError:  # removed too
                working = self.folder
            for folder in dict.fromkeys((self.folder, working, Path(tempfile.gettempdir()))):
                try:
                    return self._keep_in(folder)
                except OSError as exc:  # OutputError is one
                    failures.append(" ".join(str(exc).split()))
            raise OutputError("the unsaved notes could not be kept anywhere: " + "; ".join(failures))

    def _keep_in(self, folder: Path) -> Path:
        from facs_rig.io.atomic import write_text_atomic

        # A copy kept by an earlier session is not replaced: the next free name.
        stem = self.notes_path.stem
        kept = folder / f"{stem}.unsaved.notes"
        number = 1
        while kept.exists() and (kept.is_dir() or kept.read_bytes() != self.text.encode("utf-8")):
            number += 1
            kept = folder / f"{stem}.unsaved-{number}.notes"
        write_text_atomic(kept, self.text)
        return kept

    def reload(self, text: str) -> bool:
        """Take ``text`` read from the notes file (changed on disk by another editor).

        Returns whether the notes text was replaced by it. It is not when they hold unsaved
        edits: those are the director's typing, and a file changed under them must not erase
        it; the change is recorded instead (:attr:`conflict`, shown on every page), and Save
        then refuses to write over it unless asked to overwrite, as an editor warns. A file
        back to the text last read or saved, or holding the notes' own text, ends the conflict.
        """
        with self._lock:
            if text == self.text or (text == self.saved_text and self.text != self.saved_text):
                self.saved_text = text
                self._conflict, self._disk_text = False, None
                return False
            if self.text != self.saved_text:
                self._conflict, self._disk_text = True, text
                return False
            self.saved_text = text
            self._conflict, self._disk_text = False, None
            self.disk_version += 1
            self.set_notes(text)
            return True

    def insert_beat(self, code: str, at: float) -> NotesStatus:
        """Insert ``code`` as a beat line at ``at`` seconds, after the beats that start earlier.

        When ``code`` is the slider pose's code, the lines play the pose's own values (its code
        rounds them to letters: :meth:`_pose_lines`).

        The line is written in SMPTE timecode at the timeline's fps (from its ``start`` header),
        the frame nearest ``at``, so the director sees the frame they were on.

        Raises
        ------
        CodeParseError
            For a code that does not parse (nothing is inserted).
        """
        with self._lock:
            canonical = format_code(self.vocabulary.parse(code))
            if not (math.isfinite(at) and at >= 0):
                raise TimelineFormatError(f"cannot insert a beat at {at!r} s")
            fps = self.timeline.fps
            origin = notes_origin(self.timeline)  # a 'start 01:00:00:00' header: times from it
            stamp = format_timecode(at + origin, fps)
            if self.pose_values and canonical == self.pose_code():
                beat_lines = self._pose_lines(stamp)
            else:
                beat_lines = [f"{stamp}  {canonical}"]
            # Placed by the time the stamp reads back as (the playhead between two frames is
            # written as the nearest frame): placed by the playhead, a beat between it and
            # that frame made the new line go backwards.
            placed = beat_start(stamp, fps, origin)
            lines = self.text.splitlines()
            insert_at = len(lines)
            for index, event_line in enumerate(lines):
                start = beat_start(event_line, fps, origin)
                if start is not None and start > placed:
                    insert_at = index
                    break
            lines[insert_at:insert_at] = beat_lines
            if not any(line.split()[:1] and line.split()[0].lower() == "fps" for line in lines):
                # The stamp is timecode, which a file without an 'fps' line refuses (it counts
                # frames at a rate): the rate the notes were read at is written down, before
                # the first line that is not a comment or blank (fps precedes the beats).
                first = next((index for index, line in enumerate(lines)
                              if line.split("#", 1)[0].strip()), len(lines))
                lines.insert(first, f"fps {fps:g}")
            return self.set_notes("\n".join(lines) + "\n")

    def _pose_lines(self, stamp: str) -> list[str]:
        """Beat lines at ``stamp`` that play the slider pose exactly: its code is lettered by
        band (0.3 shows as C, which plays 0.55), so AUs whose value is not their letter's get
        an ``intensity`` option, one line per value (``L12C+R12C  intensity 0.3``)."""
        scale = self.vocabulary.scale()
        lines: list[tuple[str | None, list[Channel], list[str]]] = []

        def clashes(channels: list[Channel], channel: Channel) -> bool:  # 12 with L12, or L12 twice
            return any(c.au == channel.au
                       and (c.side is None or channel.side is None or c.side == channel.side)
                       for c in channels)

        for channel, value in sorted(self.pose_values.items(),
                                     key=lambda item: (item[0].au, item[0].side or "")):
            # Lettered as the notes writer letters it: the band's letter, none for AU45/46
            # (FACS scores a blink or wink present only), and the value in 'intensity' when it
            # is not what the written term plays (shortest float32 text).
            letter, text = written_intensity(self.vocabulary, channel.au,
                                             scale.value_to_letter(value), value)
            # One line per value; an AU already on it in another side (12 and L12) starts another.
            line = next((line for line in lines if line[0] == text and not clashes(line[1], channel)), None)
            if line is None:
                line = (text, [], [])
                lines.append(line)
            line[1].append(channel)
            line[2].append(f"{channel.side or ''}{channel.au}{letter or ''}")
        return [f"{stamp}  {format_code(self.vocabulary.parse('+'.join(terms)))}"
                + (f"  intensity {text}" if text is not None else "") for text, _, terms in lines]

    # ------------------------------------------------------------------ poses

    def pose_from_values(self, values: Mapping[str, float]) -> np.ndarray:
        """Set the slider pose from channel names (``AU12``, ``AU12_L``) -> 0-1 values.

        Raises
        ------
        FacsRigError
            For an unknown channel name, a channel no timeline reader takes
            (:func:`~facs_rig.core.timeline.check_channel`: an unsided ``AU46``, a wink of no eye,
            in its words), or a value that is not a finite number in 0-1. The pose is then
            left as it was.
        """
        channels: dict[Channel, float] = {}
        for name, value in values.items():
            channel = parse_channel(str(name))
            if channel is None:
                raise UnsupportedFormatError(f"{str(name)[:40]!r} is not a channel name such as AU12 "
                                             "or AU12_L")
            self.vocabulary.action_unit(channel.au)  # unknown AU -> VocabularyError
            problem = check_channel(channel, self.vocabulary)
            if problem:  # the page's 'both' slider of AU46 (its code, 46, did not parse either)
                raise FacsRuleError(problem)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and 0.0 <= value <= 1.0):
                raise UnsupportedFormatError(f"{name}: value {value!r} is not a number 0-1")
            if value > 0:
                channels[channel] = float(value)
        with self._lock:
            self.pose_values = channels
            self.pose_weights = mix_frame(channels, self.profile)
            if self.compare is not None:
                self.compare_pose_weights = mix_frame(channels, self.compare.driver.profile)
            return self.pose_weights

    def pose_from_code(self, code: str) -> np.ndarray:
        """Set the slider pose from a FACS code or expression name (``6C+R12D``, ``happiness``)."""
        values = self.vocabulary.channel_values(self.vocabulary.parse(code))
        return self.pose_from_values({channel.name: value for channel, value in values.items()})

    def pose_code(self) -> str:
        """The code string of the slider pose: letters by the scale's bands (``6C+R12D``)."""
        scale = self.vocabulary.scale()
        values = dict(self.pose_values)
        # The page has a 'both' slider and L and R sliders per AU; a code cannot hold 12 and L12
        # (asking it to made every such pose an error, the face not redrawn), so an AU set both
        # ways shows each side at the larger of its two values.
        for channel in [c for c in values if c.side is None]:
            if any(c.au == channel.au and c.side for c in values):
                both = values.pop(channel)
                for side in "LR":
                    sided = Channel(channel.au, side)
                    values[sided] = max(values.get(sided, 0.0), both)
        terms = []
        for channel, value in sorted(values.items(), key=lambda item: (item[0].au, item[0].side or "")):
            letter = scale.value_to_letter(value)
            if letter is None:
                continue
            # A blink or wink at the value it plays unlettered (E, full closure) is written as
            # the notes writer writes it, without a letter (FACS 2002 scores AU45/46 present
            # only); short of closure it keeps its band's letter, so the code reads back to it.
            if written_intensity(self.vocabulary, channel.au, letter, value) == (None, None):
                letter = ""
            terms.append(f"{channel.side or ''}{channel.au}{letter}")
        if not terms:
            return ""
        return format_code(self.vocabulary.parse("+".join(terms)))

    # ------------------------------------------------------------------ explain

    def frame_index(self, at: float) -> int:
        """The frame nearest to ``at`` seconds, clamped to the timeline."""
        last = self.weights.shape[0] - 1
        if not math.isfinite(at):
            return 0
        # Clamp in floating point first: a huge ``at`` times the fps overflows to inf, which
        # round() cannot turn into an int.
        return int(round(min(max(at * self.timeline.fps, 0.0), float(last))))

    def frame(self, at: float) -> tuple[np.ndarray, dict[Channel, float]]:
        """The target weights (n_targets,) and AU values of the frame nearest to ``at``, read
        under the session's lock: a notes edit replaces the timeline, weights and curves
        together, so a reader between two of those assignments would mix old and new."""
        with self._lock:
            return self.weights[self.frame_index(at)], self.frame_values(at)

    def frame_values(self, at: float) -> dict[Channel, float]:
        """AU values of the timeline at the frame nearest to ``at`` (channels above zero)."""
        row = self.frame_index(at)
        return {channel: float(self.curves[row, column])
                for column, channel in enumerate(self.curve_channels) if self.curves[row, column] > 0}

    def explain(self, target: str | None, *, at: float | None = None) -> dict:
        """``facs-rig explain``'s derivation (its JSON form) of the pose or of frame ``at``.

        Only the entry of ``target`` is kept when one is named.
        """
        with self._lock:
            values = dict(self.pose_values) if at is None else self.frame_values(at)
            result = explain(values, self.profile).to_dict()
        if target is not None:
            if target not in self.profile.targets:
                raise UnsupportedFormatError(f"{target!r} is not a target of rig {self.profile.name}")
            result["targets"] = [entry for entry in result["targets"] if entry["target"] == target]
        result["target"] = target
        return result

    # ------------------------------------------------------------------ outputs

    def output_path(self, name: str) -> Path:
        """``name`` inside the notes folder, when it is a bare file name with a known extension.

        Raises
        ------
        OutputError
            For names with a folder part, ``..``, hidden names, other extensions, or the rig
            file itself.
        """
        if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
            raise OutputError(f"output name {name!r}: use a plain file name such as take.glb "
                              f"(letters, digits, space, '.', '_', '-'); files go to {self.folder}")
        suffix = Path(name).suffix.lower()
        if suffix not in EXPORT_FORMATS:
            raise OutputError(f"output name {name!r}: extension must be one of "
                              f"{', '.join(EXPORT_FORMATS)}")
        path = self.folder / name
        if path.exists() and self.mesh_path.exists() and path.samefile(self.mesh_path):
            raise OutputError(f"{name}: is the rig file; choose another name")
        return path

    def free_name(self, name: str) -> str:
        """``name``, or the first of ``STEM-2.EXT``, ``STEM-3.EXT``, ... that no file in the
        notes folder has (the name an export takes to keep what is there)."""
        self.output_path(name)
        path = Path(name)
        candidate, number = name, 1
        while (self.folder / candidate).exists() or (self.folder / candidate).is_symlink():
            number += 1
            candidate = f"{path.stem}-{number}{path.suffix}"
        return candidate

    def export(self, name: str, *, at: float = 0.0, overwrite: bool = False) -> Path:
        """Write the timeline (or the frame ``at``) as ``name`` in the notes folder.

        ``.notes`` writes the text as typed; ``.json``/``.eaf`` the parsed timeline;
        ``.glb`` a baked copy of the rig; ``.png`` the frame at ``at``; ``.gif``/``.mp4`` the
        clip, each with the code the CLI commands use.

        Raises
        ------
        OutputExistsError
            ``name`` is already a file in the folder and ``overwrite`` is False: nothing is
            written (a second scene's export must not silently replace the first's).
        """
        path = self.output_path(name)
        if not overwrite and (path.exists() or path.is_symlink()):
            raise OutputExistsError(name, self.free_name(name))
        suffix = path.suffix.lower()
        with self._lock:
            if self.status.error is not None and suffix != ".notes":
                raise TimelineFormatError(f"the notes do not parse; fix them first: {self.status.error}")
            text, timeline = self.text, self.timeline
        if suffix == ".notes":
            from facs_rig.io.atomic import write_text_atomic

            write_text_atomic(path, text)
        elif suffix in (".json", ".eaf"):
            from facs_rig.io.timeline_files import write_timeline

            write_timeline(timeline, path, self.vocabulary)
        elif suffix == ".glb":
            from facs_rig.io.gltf.pipeline import bake_timeline

            bake_timeline(timeline, self.mesh_path, path, rig=self.profile)
        elif suffix == ".png":
            from facs_rig.render.encoders import write_png
            from facs_rig.render.preview import peak_frame

            weights = peak_frame(self.setup, timeline, at=min(max(at, 0.0), timeline.duration))
            write_png(path, self.setup.renderer.render(weights))
        else:
            from facs_rig.render.encoders import write_clip
            from facs_rig.render.preview import FaceRenderer, PreviewSetup, timeline_clip

            # As `facs-rig preview TIMELINE -o clip.gif`: 512 px without supersampling.
            renderer = FaceRenderer(self.setup.rig, width=512, height=512, supersample=1)
            clip = timeline_clip(PreviewSetup(self.setup.rig, self.setup.driver, renderer), timeline)
            write_clip(path, self._unless_abandoned(clip.frames, name), fps=clip.fps,
                       palette=clip.palette)
        return path

    def abandon_clips(self) -> None:
        """Make a GIF/MP4 export in progress, and any later one, stop before it writes anything
        (the server stopping: a clip takes tens of seconds to render, a stop should not)."""
        self._abandon_clips.set()

    def _unless_abandoned(self, frames: Iterable[np.ndarray], name: str) -> Iterator[np.ndarray]:
        for frame in frames:
            if self._abandon_clips.is_set():
                # The clip's encoders write nothing when their frames raise (write_clip).
                raise OutputError(f"{name}: not written: the studio is stopping")
            yield frame
