"""The upload drop zone: Panel's FileDropper with each file streamed to disk as its chunks arrive."""

from __future__ import annotations

from collections.abc import Callable

import panel as pn

from ui.workspace import UploadError, UploadWriter


class StreamingFileDropper(pn.widgets.FileDropper):
    """A FileDropper that never holds a file in server memory and hands over only the file just dropped.

    Panel's FileDropper joins all chunks of a file in memory and keeps every file of the session in
    `value`, so a size limit could only act after the whole file arrived, and a handler reading `value`
    saw earlier uploads again. Here each chunk goes straight into an UploadWriter from `open_upload`;
    `on_upload(name, writer)` is called once per file: when its last chunk is written, or at the chunk
    that got it refused (over the limit: the rest of that file is dropped as it arrives). `value` stays
    empty.
    """

    def __init__(
        self,
        open_upload: Callable[[str], UploadWriter],
        on_upload: Callable[[str, UploadWriter], None],
        **params,
    ):
        super().__init__(**params)
        self._open_upload = open_upload
        self._on_upload = on_upload
        self._writers: dict[str, UploadWriter] = {}

    def _process_event(self, event) -> None:
        data = event.data
        name = str(data["name"])
        if event.event_name == "delete_event":  # removed from the drop zone: a saved copy stays, a partial goes
            self.discard(name)
            return
        if data["chunk"] == 1:
            self.discard(name)  # the same name dropped again before its first transfer ended
            self._writers[name] = self._open_upload(name)
        writer = self._writers.get(name)
        if writer is None:
            return  # a chunk of a refused upload (or one never started): dropped, not kept
        try:
            writer.write(data["data"])
            done = data["chunk"] >= data["total_chunks"]
        except UploadError:
            done = True
        if done:
            del self._writers[name]
            self._on_upload(name, writer)

    def discard(self, name: str | None = None) -> None:
        """Delete the partial file of the unfinished upload `name` (all of them when None: the session ended)."""
        for key in [name] if name is not None else list(self._writers):
            writer = self._writers.pop(key, None)
            if writer is not None:
                writer.discard()
