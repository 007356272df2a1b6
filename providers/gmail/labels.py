"""Gmail labels as folders: the search scope, and the folder a finding is reported in.

Gmail has labels, not folders: one message can carry INBOX and a user label at once, and a
message in Trash or Spam carries TRASH or SPAM. ``users.messages.list`` leaves out SPAM and
TRASH unless ``includeSpamTrash=true`` (API reference), so every list asks for it: the whole
mailbox is searched by default.

* ``--folder NAME`` becomes ``labelIds=[id]`` (one list per label, merged newest first).
  System labels (INBOX, TRASH, SPAM, SENT, ...) are their own ids; user label names are looked
  up with one ``users.labels.list`` call, made only when such a name is given or a finding
  carries a user label.
* ``--exclude-folder NAME`` skips a message when every folder-like label it carries is
  excluded (a message in INBOX and "Salesforce" is still found with "Salesforce" excluded).
* A finding's folder is TRASH or SPAM when it carries one (the mail was deleted or filtered;
  the note in the output says so), else the first included label, INBOX, a user label, SENT
  or DRAFT; archived mail (no such label) has none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from inbox_finder.boundary.folders import FolderInfo, FolderScope, find_folder, missing_folder
from inbox_finder.model import FolderRole

log = logging.getLogger(__name__)

ROLES: dict[str, FolderRole] = {"TRASH": "trash", "SPAM": "junk"}
SYSTEM = ("INBOX", "TRASH", "SPAM", "SENT", "DRAFT", "IMPORTANT", "STARRED", "UNREAD", "CHAT")
# Labels that say something about a message, not where it is.
NOT_FOLDERS = frozenset({"UNREAD", "STARRED", "IMPORTANT", "CHAT"})
ORDER = ("TRASH", "SPAM", "INBOX")  # then user labels, then SENT/DRAFT

Call = Callable[[str, Callable[[Any], Any]], Any]


def folder_labels(labels: Iterable[str]) -> frozenset[str]:
    """The labels of a message that place it somewhere (no UNREAD, STARRED, CATEGORY_...)."""
    return frozenset(x for x in labels if x not in NOT_FOLDERS and not x.startswith("CATEGORY_"))


@dataclass(frozen=True)
class LabelScope:
    """Label ids to list (empty: the whole mailbox) and label ids whose messages are skipped."""

    include: tuple[str, ...] = ()
    exclude: frozenset[str] = frozenset()
    nothing: bool = False  # the restrictions leave no label to search

    def admits(self, labels: Iterable[str]) -> bool:
        """Whether a message with these labels is in scope."""
        placed = folder_labels(labels)
        if self.include and not placed & set(self.include):
            return False
        return not (self.exclude and placed and placed <= self.exclude)

    def folder(self, labels: Iterable[str]) -> str | None:
        """The label a finding is reported in (see the module docstring)."""
        placed = folder_labels(labels)
        for label in (*ORDER[:2], *self.include, *ORDER[2:]):
            if label in placed:
                return label
        users = sorted(x for x in placed if x not in SYSTEM)
        if users:
            return users[0]
        return next((x for x in ("SENT", "DRAFT") if x in placed), None)


class Labels:
    """The mailbox's labels, listed once and only when a name has to be looked up."""

    def __init__(self, call: Call, user_id: str, source: str) -> None:
        self._call = call
        self._user_id = user_id
        self._source = source
        self._infos: list[FolderInfo] | None = None

    def infos(self) -> list[FolderInfo]:
        """Every label as a folder (name, id, role); one ``users.labels.list`` call."""
        if self._infos is None:
            resp = self._call(
                "list labels",
                lambda api: api.users().labels().list(userId=self._user_id).execute(num_retries=0),
            )
            found = []
            for item in resp.get("labels") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    label_id = item["id"]
                    name = str(item.get("name") or label_id)
                    found.append(FolderInfo(name, label_id, ROLES.get(label_id), (label_id,)))
            log.debug("Gmail labels: %d", len(found))
            self._infos = found
        return self._infos

    def name(self, label_id: str) -> str:
        """What the user calls a label: system labels by id, user labels by name."""
        if label_id in SYSTEM:
            return label_id
        hit = next((f for f in self.infos() if f.key == label_id), None)
        return hit.name if hit is not None else label_id

    def _id(self, name: str) -> str:
        if name.upper() in SYSTEM:
            return name.upper()
        hit = find_folder(name, self.infos())
        if hit is None:
            raise missing_folder(name, self.infos(), self._source)
        return hit.key

    def scope(self, scopes: Sequence[FolderScope]) -> LabelScope:
        """The label scope all ``scopes`` together allow (names checked, ids looked up)."""
        include: tuple[str, ...] = ()
        restricted = False
        exclude: set[str] = set()
        for scope in scopes:
            if scope.include:
                ids = tuple(dict.fromkeys(self._id(n) for n in scope.include))
                include = tuple(i for i in ids if i in include) if restricted else ids
                restricted = True
            exclude |= {self._id(n) for n in scope.exclude}
        include = tuple(i for i in include if i not in exclude)
        return LabelScope(include, frozenset(exclude), nothing=restricted and not include)
