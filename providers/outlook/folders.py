"""Outlook folders through Graph: what a search covers, and a finding's folder by name.

``/me/messages`` (``/users/{id}/messages``) spans every folder of the mailbox, Deleted Items
and Junk Email included, so it is the default search. ``--folder NAME`` lists
``/mailFolders/{id}/messages`` (that folder only) per named folder, merged newest first; a
well-known name (inbox, archive, deleteditems, junkemail, sentitems, drafts, ...) is used as
the path segment as is, whatever the folder's localised displayName, and any other name is
matched against displayNames (``Parent/Child`` for a nested one) by listing ``/mailFolders``
and, only if needed, ``childFolders``. ``--exclude-folder NAME`` drops listed messages whose
``parentFolderId`` is that folder's id.

A finding's folder comes from its ``parentFolderId``: ONE JSON-batching call (``POST
/$batch``) reads that folder's displayName together with the ids of ``deleteditems`` and
``junkemail`` (which say whether the mail was deleted or filtered as junk; v1.0 mailFolder
resources do not carry their well-known name). Names are cached per provider, and only the
folders of findings are ever resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from inbox_finder.boundary.folders import FolderInfo, FolderScope, find_folder, missing_folder
from inbox_finder.errors import AuthError, FolderNotFoundError, MailboxError
from inbox_finder.model import FolderRole

from .graph import GraphClient, json_object

log = logging.getLogger("inbox_finder.providers.outlook")

WELL_KNOWN = (
    "inbox",
    "archive",
    "deleteditems",
    "junkemail",
    "sentitems",
    "drafts",
    "outbox",
    "clutter",
    "conversationhistory",
    "scheduled",
    "msgfolderroot",
    "recoverableitemsdeletions",
)
ROLES: dict[str, FolderRole] = {"deleteditems": "trash", "junkemail": "junk"}
FOLDER_PAGE = 100  # mailFolders per list page (Graph's default is 10)
MAX_LISTINGS = 200  # childFolders listings a name lookup may make before giving up


class GraphFolders:
    """Folder lookups for one mailbox (``root`` is the ``/me`` or ``/users/{id}`` URL)."""

    def __init__(self, graph: GraphClient, endpoint: str, root: str, source: str) -> None:
        self._graph = graph
        self._endpoint = endpoint
        self._root = root
        self._source = source
        self._top: list[FolderInfo] | None = None
        self._names: dict[str, tuple[str | None, FolderRole | None]] = {}
        self._special: dict[str, str] | None = None  # well-known name -> id
        self._parents: set[str] = set()  # ids of listed folders that have child folders

    # --- scope ----------------------------------------------------------------------------

    def included(self, scopes: Sequence[FolderScope]) -> list[FolderInfo]:
        """The folders to list one by one (empty: the whole mailbox through /messages)."""
        chosen: list[FolderInfo] = []
        restricted = False
        for scope in scopes:
            if scope.include:
                named = [self.lookup(n) for n in scope.include]
                chosen = [f for f in named if f in chosen] if restricted else named
                restricted = True
        excluded = {self.lookup(n).key for s in scopes for n in s.exclude}
        return [f for f in dict.fromkeys(chosen) if f.key not in excluded]

    def excluded_ids(self, scopes: Sequence[FolderScope]) -> frozenset[str]:
        """Real folder ids of the excluded folders (a well-known name costs one GET)."""
        ids = set()
        for name in (n for s in scopes for n in s.exclude):
            folder = self.lookup(name)
            if folder.key in WELL_KNOWN:
                ids.add(self._get(f"mailFolders/{folder.key}", {"$select": "id"})["id"])
            else:
                ids.add(folder.key)
        return frozenset(ids)

    def lookup(self, name: str) -> FolderInfo:
        """The folder a user means: a well-known name, else a displayName (path)."""
        if name.lower() in WELL_KNOWN:
            key = name.lower()
            return FolderInfo(name, key, ROLES.get(key))
        found = self._by_path(name) if "/" in name else self._by_name(name)
        if found is None:
            raise missing_folder(name, self.top_level(), self._source)
        return found

    def top_level(self) -> list[FolderInfo]:
        """The top-level folders (children of the mailbox root), listed once."""
        if self._top is None:
            self._top = list(self._list("mailFolders"))
        return self._top

    def _by_name(self, name: str) -> FolderInfo | None:
        """Breadth first: top level, then children, so a top-level match wins."""
        level, listings = self.top_level(), 0
        while level:
            hit = find_folder(name, level)
            if hit is not None:
                return hit
            parents, level = [f for f in level if f.key in self._parents], []
            for parent in parents:
                if listings >= MAX_LISTINGS:
                    return None
                listings += 1
                level += list(self._list(f"mailFolders/{parent.key}/childFolders"))
        return None

    def _by_path(self, path: str) -> FolderInfo | None:
        level: list[FolderInfo] = self.top_level()
        hit: FolderInfo | None = None
        for part in path.split("/"):
            hit = find_folder(part, level)
            if hit is None:
                return None
            level = list(self._list(f"mailFolders/{hit.key}/childFolders"))
        return None if hit is None else FolderInfo(path, hit.key, hit.role)

    def _list(self, segment: str) -> Iterator[FolderInfo]:
        url: str | None = f"{self._endpoint}{self._root}/{segment}"
        params: dict[str, str] | None = {
            "$top": str(FOLDER_PAGE),
            "$select": "id,displayName,childFolderCount",
        }
        while url:
            page = self._graph.get(url, params, what="folders", decode=json_object)
            params = None
            for item in page.get("value") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    if item.get("childFolderCount"):
                        self._parents.add(item["id"])
                    yield FolderInfo(str(item.get("displayName") or item["id"]), item["id"])
            nxt = page.get("@odata.nextLink")
            url = str(nxt) if nxt else None

    def _get(self, segment: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self._endpoint}{self._root}/{segment}"
        try:
            return self._graph.get(url, params, what="folders", decode=json_object)
        except (FolderNotFoundError, MailboxError) as exc:
            raise FolderNotFoundError(f"folder {segment!r} not found in {self._source}") from exc

    # --- naming findings --------------------------------------------------------------------

    def describe(self, folder_id: str | None) -> tuple[str | None, FolderRole | None]:
        """(displayName, trash/junk role) of a finding's parentFolderId; one $batch call."""
        if not folder_id:
            return None, None
        if folder_id not in self._names:
            try:
                self._names[folder_id] = self._resolve(folder_id)
            except (AuthError, MailboxError) as exc:
                # The token was read already; only its folder's name is unknown.
                log.warning("cannot name the folder of a finding: %s", exc)
                self._names[folder_id] = None, None
        return self._names[folder_id]

    def _resolve(self, folder_id: str) -> tuple[str | None, FolderRole | None]:
        root = self._root
        requests = [{"id": "folder", "method": "GET", "url": f"{root}/mailFolders/{folder_id}"}]
        if self._special is None:
            requests += [
                {"id": name, "method": "GET", "url": f"{root}/mailFolders/{name}?$select=id"}
                for name in ROLES
            ]
        url = f"{self._endpoint}/$batch"
        answer = self._graph.get(
            url, None, what="folders", decode=json_object, json_body={"requests": requests}
        )
        bodies: dict[str, dict[str, Any]] = {
            str(r.get("id")): r["body"]
            for r in answer.get("responses") or []
            if isinstance(r, dict) and r.get("status") == 200 and isinstance(r.get("body"), dict)
        }
        if self._special is None:
            self._special = {n: str(bodies[n].get("id")) for n in ROLES if n in bodies}
        folder = bodies.get("folder")
        name = folder.get("displayName") if isinstance(folder, dict) else None
        role = next((ROLES[n] for n, i in self._special.items() if i == folder_id), None)
        log.debug("Graph folder %s is %r (%s)", folder_id[-12:], name, role or "no role")
        return (str(name) if name else None), role
