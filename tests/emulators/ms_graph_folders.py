"""The mail-folder tree of the Graph emulator, as the mailFolder reference describes it.

Every mailbox has the default folders under a hidden root (``msgfolderroot``); each folder has
an opaque id, a displayName and a parentFolderId, and the well-known names (inbox, archive,
deleteditems, junkemail, sentitems, drafts, msgfolderroot) work in place of an id in a path
whatever the folder's (localised) displayName. Messages carry the id of their folder in
``parentFolderId``. ``/mailFolders`` lists the top-level folders (children of the root),
``/mailFolders/{id}/childFolders`` the children of one, ``$top`` default 10 and
``@odata.nextLink`` paging, as for messages.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

DEFAULT_FOLDERS = {
    "inbox": "Inbox",
    "archive": "Archive",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
}
ROOT = "msgfolderroot"


def _folder_id() -> str:
    return "AAMkAGI2" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B") + "AAA="


@dataclass
class MailFolder:
    """One mail folder."""

    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None
    hidden: bool = False

    def resource(self, tree: FolderTree) -> Json:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "parentFolderId": self.parent_id,
            "childFolderCount": len(tree.children(self.id)),
            "unreadItemCount": 0,
            "totalItemCount": 0,
            "isHidden": self.hidden,
        }


@dataclass
class FolderTree:
    """The folders of one mailbox."""

    folders: list[MailFolder] = field(default_factory=list)

    def __post_init__(self) -> None:
        root = MailFolder(_folder_id(), "Top of Information Store", "", ROOT, hidden=True)
        self.folders.append(root)
        for name, shown in DEFAULT_FOLDERS.items():
            self.folders.append(MailFolder(_folder_id(), shown, root.id, name))

    @property
    def root(self) -> MailFolder:
        return self.folders[0]

    def get(self, key: str) -> MailFolder | None:
        """By id, or by well-known name (case-insensitive), as a URL segment is resolved."""
        for folder in self.folders:
            if folder.id == key or (folder.well_known and folder.well_known == key.lower()):
                return folder
        return None

    def children(self, folder_id: str) -> list[MailFolder]:
        return [f for f in self.folders if f.parent_id == folder_id]

    def ensure(self, path: str) -> MailFolder:
        """The folder at a well-known name or a ``/``-separated displayName path (created)."""
        known = self.get(path)
        if known is not None:
            return known
        parent = self.root
        for part in path.split("/"):
            hit = next(
                (f for f in self.children(parent.id) if f.display_name.lower() == part.lower()),
                None,
            )
            if hit is None:
                hit = MailFolder(_folder_id(), part, parent.id)
                self.folders.append(hit)
            parent = hit
        return parent

    def rename(self, key: str, name: str) -> None:
        folder = self.get(key)
        assert folder is not None
        folder.display_name = name
